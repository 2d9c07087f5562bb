"""`cgan-train` under torchrun: two gloo processes on CPU train the model one process would.

Two torchrun launches (each starts three Pythons) and two in-process runs, shared
by the tests below; 256 MNIST images, 64 per step, no evaluation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cgan_runtime.contract import ModelSpec  # noqa: E402
from cgan_train.checkpoint import load_checkpoint  # noqa: E402
from cgan_train.models import build_generator  # noqa: E402
from cgan_train.config import TrainConfig  # noqa: E402
from cgan_train.distributed import Processes, default_threads, local_batch  # noqa: E402
from cgan_train.trainer import train  # noqa: E402

from support import MNIST_DIR  # noqa: E402

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "MNIST" / "raw").is_dir(), reason=f"no MNIST at {MNIST_DIR}")
WORKER = Path(__file__).parent / "train_worker.py"
SMOKE = ["--recipe", "mlp", "--train-limit", "256", "--epochs", "2", "--no-eval", "--device", "cpu"]


def torchrun(nproc: int, *runs: list[object]) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N train_worker.py` doing RUNS in turn, dropout off."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CGAN_TEST_NO_DROPOUT": "1"}
    args = [arg for run in runs for arg in ["--then", "--data-dir", MNIST_DIR, *SMOKE, *run]][1:]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               str(WORKER), *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def one_process(out: Path, max_steps: int, resume: bool = False) -> None:
    """The same run in this process (dropout off, as in the workers)."""
    cfg = TrainConfig.for_recipe("mlp", train_limit=256, epochs=2, max_steps=max_steps, evaluate=False)
    train(cfg, MNIST_DIR, out, device="cpu", resume=resume)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Step 4 in one and in two processes; each resumed to step 6 in the other count; two faulty runs."""
    if not (MNIST_DIR / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST at {MNIST_DIR}")
    root = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.nn.Dropout, "forward", lambda self, x: x)
        one_process(root / "one", max_steps=4)
        shutil.copytree(root / "one", root / "one-then-two")
        # One launch for the four two-process runs; in the last two, rank 1 alone gets a
        # non-finite loss, then fails, at step 6.
        launch = torchrun(2, ["--out", root / "two", "--max-steps", 4],
                          ["--out", root / "one-then-two", "--max-steps", 6, "--resume"],
                          ["--out", root / "nan", "--max-steps", 8, "--test-nan-loss-at-step", 6],
                          ["--out", root / "fails", "--max-steps", 8, "--test-fail-at-step", 6])
        (root / "launch.stderr").write_text(launch.stderr)
        assert (root / "fails").is_dir(), launch.stderr[-3000:]
        shutil.copytree(root / "two", root / "two-then-one")
        one_process(root / "two-then-one", max_steps=6, resume=True)
    return root


def biases_before_batchnorm(spec: dict) -> set[str]:
    """State keys of biases that feed a BatchNorm, and of that BatchNorm's running mean.

    The normalisation removes such a bias, so its gradient is zero in exact
    arithmetic; Adam divides the rounding noise by its own size and moves the
    bias by lr-sized steps in a direction no two summation orders agree on.
    It changes nothing the generator computes, so it is compared loosely.
    """
    generator = build_generator(ModelSpec.from_dict(spec))
    names = dict(generator.named_modules())
    keys = set()
    for name, module in names.items():
        if isinstance(module, torch.nn.Sequential):
            children = list(module.named_children())
            for (a, first), (b, second) in zip(children, children[1:]):
                if isinstance(second, torch.nn.modules.batchnorm._BatchNorm) and getattr(first, "bias", None) is not None:
                    keys |= {f"{name}.{a}.bias", f"{name}.{b}.running_mean"}
    return keys


def assert_same_model(a: dict, b: dict) -> None:
    """Weights equal to float tolerance, and the generators compute the same images."""
    loose = biases_before_batchnorm(a["spec"])
    steps, lr = a["step"], a["train_config"]["lr"]
    for part in ("generator", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for key, value in a[part].items():
            atol = 2 * steps * lr if f"{key}" in loose and part == "generator" else 1e-5
            torch.testing.assert_close(value, b[part][key], atol=atol, rtol=1e-4, msg=f"{part}.{key}")
    noise, labels = torch.randn(64, 100, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    images = []
    for ckpt in (a, b):
        generator = build_generator(ModelSpec.from_dict(ckpt["spec"]))
        generator.load_state_dict(ckpt["generator"])
        with torch.no_grad():
            images.append(generator.train()(noise, labels))  # batch statistics: the biases cancel
    torch.testing.assert_close(images[0], images[1], atol=1e-5, rtol=1e-4)


@needs_mnist
def test_two_processes_write_one_run_folder_with_one_set_of_files(runs):
    folder = runs / "two"
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "last.pt", "metrics.jsonl", "samples"]
    assert [p.name for p in (folder / "samples").iterdir()] == ["epoch_001.png"]
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1
    ckpt = load_checkpoint(folder / "last.pt")
    assert ckpt["step"] == 4
    assert not any(key.startswith("module.") for key in ckpt["generator"]), "DDP's wrapper leaked into the state"


@needs_mnist
def test_two_processes_match_one_process_at_the_same_global_batch(runs):
    two = load_checkpoint(runs / "two" / "last.pt")
    one = load_checkpoint(runs / "one" / "last.pt")
    assert two["step"] == one["step"] == 4
    assert_same_model(two, one)


@needs_mnist
def test_checkpoints_resume_across_process_counts(runs):
    two_then_one = load_checkpoint(runs / "two-then-one" / "last.pt")
    one_then_two = load_checkpoint(runs / "one-then-two" / "last.pt")
    assert two_then_one["step"] == one_then_two["step"] == 6
    assert_same_model(two_then_one, one_then_two)
    lines = (runs / "one-then-two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # epoch 1 from one process, the rest of epoch 2 from two


@needs_mnist
def test_a_failure_in_one_process_ends_the_run_with_one_line_and_keeps_last_pt(runs):
    assert errors(runs)[1:] == ["cgan-train: error: rank 1: injected failure"]
    assert load_checkpoint(runs / "fails" / "last.pt")["step"] == 4  # epoch 1, the last complete one
    assert len((runs / "fails" / "metrics.jsonl").read_text().splitlines()) == 1


@needs_mnist
def test_a_non_finite_loss_in_one_process_stops_every_process_at_that_step_and_keeps_last_pt(runs):
    assert errors(runs)[:1] == ["cgan-train: error: training diverged: non-finite loss at step 6 (epoch 2); "
                                "nothing of it was saved, last.pt is the last good checkpoint (try a lower --lr)"]
    assert load_checkpoint(runs / "nan" / "last.pt")["step"] == 4


def errors(runs: Path) -> list[str]:
    """The launch's one-line errors, in order: one per faulty run, from one process, nothing else."""
    lines = (runs / "launch.stderr").read_text().splitlines()
    found = [line for line in lines if line.startswith("cgan-train:")]
    assert len(found) == 2, found
    return found


def test_global_batch_must_split_evenly_over_the_processes():
    cpu = torch.device("cpu")
    assert local_batch(64, Processes(rank=1, world=2, local_world=2, device=cpu)) == slice(32, 64)
    with pytest.raises(ValueError, match="batch size 64 does not split evenly over 3 processes"):
        local_batch(64, Processes(rank=0, world=3, local_world=3, device=cpu))
    with pytest.raises(ValueError, match="use a multiple of 4"):  # pairs for the diversity penalty
        local_batch(6, Processes(rank=0, world=2, local_world=2, device=cpu), pairs=True)


def test_default_threads_follow_omp_num_threads_else_share_the_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.4, 0.0, 0.0))
    assert default_threads() == 6  # 8 cores, 2 busy
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert default_threads() == 1  # 6 idle cores shared by 4 processes
    monkeypatch.setattr(os, "getloadavg", lambda: (20.0, 0.0, 0.0))
    assert default_threads() == 1  # never less than one


def test_sigterm_to_the_documented_launch_is_one_line_and_exit_143(tmp_path):
    """torchrun itself once answered SIGTERM with a 31-line traceback (SignalException) and exit 1."""
    import signal
    import time

    started = tmp_path / "started"
    worker = tmp_path / "worker.py"
    worker.write_text(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(120)\n")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cgan_train.torchrun", "--standalone", "--nproc-per-node=1", str(worker)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and launcher.poll() is None:
        time.sleep(0.1)
    assert started.exists(), launcher.communicate()[1]
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 143
    assert err.splitlines() == ["cgan-train: error: terminated"]
