"""cgan-train under bad input, faults and concurrency: one line, nothing lost, nothing replaced.

Tiny runs: 256 MNIST images, 64 per step (4 steps an epoch), in this process.
Scoring is faked (a fixed list of FIDs) so that best.pt can be steered without
training the evaluation classifier.
"""

from __future__ import annotations

import fcntl
import json
import os

import pytest

torch = pytest.importorskip("torch")


from cgan_runtime.contract import ModelSpec  # noqa: E402
from cgan_runtime.commands.errors import EXIT_USAGE, Terminated  # noqa: E402
from cgan_train import checkpoint, trainer  # noqa: E402
from cgan_train.checkpoint import inference_generator, load_checkpoint, save_checkpoint  # noqa: E402
from cgan_train.cli import train_main  # noqa: E402
from cgan_train.config import RECIPES, TrainConfig  # noqa: E402
from cgan_train.models import build_models  # noqa: E402
from cgan_train.progress import EpochBar  # noqa: E402
from cgan_train.trainer import TrainingDiverged, train  # noqa: E402

from support import MNIST_DIR, assert_one_line_error  # noqa: E402

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "MNIST" / "raw").is_dir(), reason=f"no MNIST at {MNIST_DIR}")
SMOKE = ["--recipe", "mlp", "--train-limit", "256", "--epochs", "2", "--no-eval", "--device", "cpu"]


def smoke(**overrides) -> TrainConfig:
    return TrainConfig.for_recipe("mlp", **{"epochs": 2, "train_limit": 256, "evaluate": False, **overrides})


@pytest.fixture
def scores(monkeypatch):
    """Make each scored epoch get the next of the given FIDs (lower is better)."""

    class Scores:
        def __init__(self, values):
            self.values = list(values)

        def quick(self, sample, nz, seed=0):
            return {"fid": self.values.pop(0)}

    def install(*values: float) -> None:
        monkeypatch.setattr(trainer, "make_evaluator", lambda cfg, *args: Scores(values) if cfg.evaluate else None)

    return install


@pytest.fixture
def cgan_train(run_cli, tmp_path):
    def run(*args):
        return run_cli(train_main, "cgan-train", "--data-dir", MNIST_DIR, *args)

    yield run
    torch.set_num_threads(1)  # the command sets the process's threads


def metric_steps(folder) -> list[int]:
    return [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


# --- configuration ----------------------------------------------------------------


def test_recipe_values_are_written_only_in_recipes():
    with pytest.raises(TypeError):
        TrainConfig()  # no second set of defaults: a config always comes from a recipe
    for name, recipe in RECIPES.items():
        assert {k: TrainConfig.for_recipe(name).to_dict()[k] for k in recipe} == recipe


def test_train_config_from_dict_refuses_unknown_and_missing_fields():
    data = TrainConfig.for_recipe("mlp").to_dict()
    assert TrainConfig.from_dict(data) == TrainConfig.for_recipe("mlp")
    with pytest.raises(ValueError, match=r"unknown training config fields: \['colour'\]"):
        TrainConfig.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match=r"missing training config fields: \['lr'\]"):
        TrainConfig.from_dict({k: v for k, v in data.items() if k != "lr"})
    legacy = {("arch" if k == "recipe" else k): v for k, v in data.items()}  # runs from before the rename
    assert TrainConfig.from_dict(legacy).recipe == "mlp"


def test_train_help_shows_every_recipe_default(cgan_train):
    result = cgan_train("--help")
    text = " ".join(result.stdout.decode().replace("│", " ").split())
    losses = ", ".join(f"{name} {recipe['loss']}" for name, recipe in RECIPES.items())
    assert f"[default: (the recipe's; {losses})]" in text  # not eaten as markup
    assert "mlp 30, edge 75" in text and "conv (default):" in text
    assert "MNIST" not in text.replace("DIR/MNIST/raw", "")  # any named set or a folder, not only MNIST


def test_progress_bar_redraws_at_least_once_a_second():
    now = [0.0]
    with EpochBar("epoch 1/1", total=1000, done=0, images_per_step=64, show=False, clock=lambda: now[0]) as bar:
        for _ in range(3):  # three slow steps: the old bar (every 50 steps) would still show 0
            now[0] += 1.0
            bar.step_done()
        assert bar.shown == 3
        assert bar.images_per_s() == pytest.approx(64.0)


# --- the run folder -----------------------------------------------------------------


@needs_mnist
def test_an_existing_run_is_refused_without_resume_and_replaced_with_overwrite(cgan_train, tmp_path):
    out = tmp_path / "run"
    train(smoke(epochs=1), MNIST_DIR, out, device="cpu")
    before = (out / "last.pt").read_bytes()
    result = cgan_train(*SMOKE, "--out", out)
    assert_one_line_error(result, EXIT_USAGE, "already holds a run: add --resume to continue it, --overwrite to replace it")
    assert (out / "last.pt").read_bytes() == before and metric_steps(out) == [4]
    result = cgan_train(*SMOKE, "--out", out, "--overwrite", "--max-steps", "8")
    assert result.exit_code == 0, result.stderr
    assert metric_steps(out) == [4, 8]  # one run's lines, not two runs appended


@needs_mnist
def test_a_run_folder_locked_by_another_training_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another cgan-train at work
        with pytest.raises(RuntimeError, match="another cgan-train is writing to"):
            train(smoke(epochs=1), MNIST_DIR, out, device="cpu")
    train(smoke(epochs=1), MNIST_DIR, out, device="cpu")
    with open(out / ".lock", "w") as after:
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when training ended


@needs_mnist
def test_a_kill_before_last_pt_is_written_is_redone_cleanly_on_resume(tmp_path, monkeypatch, scores):
    scores(3.0, 2.0, 1.0)
    train(smoke(epochs=3, evaluate=True), MNIST_DIR, tmp_path / "once", device="cpu")

    real_save, last_writes = trainer.save_checkpoint, []

    def killed_at_second_last_pt(path, state):
        if path.name == "last.pt":
            last_writes.append(state["step"])
            if len(last_writes) == 2:
                raise KeyboardInterrupt  # the kill: best.pt, samples and metrics of epoch 2 are on disk
        real_save(path, state)

    scores(3.0, 2.0)
    monkeypatch.setattr(trainer, "save_checkpoint", killed_at_second_last_pt)
    with pytest.raises(KeyboardInterrupt):
        train(smoke(epochs=3, evaluate=True), MNIST_DIR, tmp_path / "twice", device="cpu")
    folder = tmp_path / "twice"
    assert load_checkpoint(folder / "last.pt")["step"] == 4 and load_checkpoint(folder / "best.pt")["step"] == 8
    assert metric_steps(folder) == [4, 8]

    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    scores(2.0, 1.0)
    train(smoke(epochs=3, evaluate=True), MNIST_DIR, folder, device="cpu", resume=True)
    assert metric_steps(folder) == [4, 8, 12]  # epoch 2's line once, not twice
    once, twice = load_checkpoint(tmp_path / "once" / "last.pt"), load_checkpoint(folder / "last.pt")
    for part in ("generator", "discriminator"):
        for key, value in once[part].items():
            assert torch.equal(value, twice[part][key]), f"{part}.{key}"
    assert load_checkpoint(folder / "best.pt")["step"] == 12 and twice["best_step"] == 12


@needs_mnist
def test_resume_rebuilds_a_missing_best_pt_when_last_pt_is_that_state(tmp_path, scores, capsys):
    scores(2.0, 1.0)
    train(smoke(epochs=2, evaluate=True), MNIST_DIR, tmp_path, device="cpu")
    (tmp_path / "best.pt").unlink()
    scores(5.0)
    exported = train(smoke(epochs=3, evaluate=True), MNIST_DIR, tmp_path, device="cpu", resume=True)
    assert "best.pt was missing: rebuilt from last.pt (step 8)" in capsys.readouterr().out
    assert exported == tmp_path / "best.pt" and load_checkpoint(exported)["step"] == 8


@needs_mnist
def test_resume_says_so_when_a_missing_best_pt_cannot_be_rebuilt(tmp_path, scores, capsys):
    scores(1.0, 2.0)
    train(smoke(epochs=2, evaluate=True), MNIST_DIR, tmp_path, device="cpu")
    (tmp_path / "best.pt").unlink()
    scores(5.0)
    exported = train(smoke(epochs=3, evaluate=True), MNIST_DIR, tmp_path, device="cpu", resume=True)
    assert "best.pt (step 4) is missing and cannot be rebuilt" in capsys.readouterr().out
    assert load_checkpoint(exported)["step"] == 12  # the next scored epoch became best, honestly


@needs_mnist
def test_resume_keeps_the_runs_plan_and_refuses_what_it_cannot_change(cgan_train, tmp_path):
    out = tmp_path / "run"
    assert cgan_train(*SMOKE, "--out", out, "--max-steps", "4").exit_code == 0
    result = cgan_train("--out", out, "--resume", "--max-steps", "6")
    assert result.exit_code == 0, result.stderr
    stored = load_checkpoint(out / "last.pt")["train_config"]
    assert (stored["epochs"], stored["recipe"], stored["ema"]) == (2, "mlp", 0.0)  # not the default recipe's 75
    assert_one_line_error(cgan_train("--out", out, "--resume", "--lr", "0.1"), EXIT_USAGE, "--resume cannot change lr 0.0002 -> 0.1")
    assert_one_line_error(cgan_train("--out", out, "--resume", "--recipe", "edge"), EXIT_USAGE, "cannot change recipe mlp -> edge")
    assert_one_line_error(cgan_train("--out", out, "--resume", "--batch-size", "32"), EXIT_USAGE, "batch_size 64 -> 32")
    assert_one_line_error(cgan_train("--out", out, "--resume", "--critic-width", "64"), EXIT_USAGE, "critic_width None -> 64")


@needs_mnist
def test_critic_width_is_recorded_with_the_run(cgan_train, tmp_path):
    out = tmp_path / "run"
    assert cgan_train(*SMOKE, "--critic-width", "48", "--out", out, "--max-steps", "2").exit_code == 0
    assert load_checkpoint(out / "last.pt")["train_config"]["critic_width"] == 48
    assert load_checkpoint(out / "last.pt")["discriminator"]["net.0.weight"].shape[0] == 48


# --- faults -------------------------------------------------------------------------


@needs_mnist
def test_an_infinite_learning_rate_stops_at_the_first_non_finite_loss(cgan_train, tmp_path):
    out = tmp_path / "run"
    assert_one_line_error(cgan_train(*SMOKE, "--out", out, "--lr", "inf"), 1, "training diverged: non-finite loss at step 2")
    assert not out.exists()  # nothing saved, no empty folder left


@needs_mnist
def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    train(smoke(epochs=1), MNIST_DIR, tmp_path, device="cpu")
    good = (tmp_path / "last.pt").read_bytes()
    real_loss = trainer.generator_loss
    monkeypatch.setattr(trainer, "generator_loss", lambda kind, logits: real_loss(kind, logits) * float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 5 .*last.pt is the last good checkpoint"):
        train(smoke(epochs=2), MNIST_DIR, tmp_path, device="cpu", resume=True)
    assert (tmp_path / "last.pt").read_bytes() == good and metric_steps(tmp_path) == [4]


@needs_mnist
def test_a_divergence_after_resuming_mid_epoch_names_its_own_step(tmp_path, monkeypatch):
    train(smoke(max_steps=2), MNIST_DIR, tmp_path, device="cpu")  # stops mid-epoch 1, at step 2
    real_loss = trainer.generator_loss
    monkeypatch.setattr(trainer, "generator_loss", lambda kind, logits: real_loss(kind, logits) * float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 3 "):
        train(smoke(), MNIST_DIR, tmp_path, device="cpu", resume=True)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2


@needs_mnist
def test_the_losses_are_looked_at_every_fifty_steps_and_at_each_epochs_end_not_every_step(tmp_path, monkeypatch):
    looked_after = []
    real_check = trainer.check_losses

    def check(first_bad, position, procs):
        looked_after.append(position.step)
        real_check(first_bad, position, procs)

    monkeypatch.setattr(trainer, "check_losses", check)
    train(smoke(batch_size=4), MNIST_DIR, tmp_path, device="cpu")  # 64 steps an epoch
    assert trainer.DIVERGENCE_CHECK_EVERY == 50 and looked_after == [50, 64, 114, 128]


@needs_mnist
def test_ctrl_c_prints_interrupted_exits_130_and_leaves_no_temp_files(cgan_train, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(smoke(epochs=1), MNIST_DIR, out, device="cpu")
    good = (out / "last.pt").read_bytes()

    def interrupted_mid_write(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_mid_write)
    result = cgan_train("--out", out, "--resume", "--epochs", "2")
    assert_one_line_error(result, 130, "interrupted", progress=True)
    assert (out / "last.pt").read_bytes() == good
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@needs_mnist
def test_stale_temp_files_of_a_killed_run_are_removed_and_nobody_elses(tmp_path):
    train(smoke(epochs=1), MNIST_DIR, tmp_path, device="cpu")
    stale = [tmp_path / ".last.pt.0a1b2c3d.tmp", tmp_path / "samples" / ".epoch_002.png.9f8e7d6c.tmp"]
    # A user's hidden temp files in the folder: once removed with the run's own.
    theirs = [tmp_path / ".notes.tmp", tmp_path / ".report.docx.tmp", tmp_path / "samples" / ".last.pt.tmp"]
    for path in stale + theirs:
        path.write_bytes(b"left by kill -9")
    train(smoke(epochs=2), MNIST_DIR, tmp_path, device="cpu", resume=True)
    assert not any(path.exists() for path in stale)
    assert all(path.read_bytes() == b"left by kill -9" for path in theirs)


@needs_mnist
def test_a_folder_left_by_a_kill_before_the_first_last_pt_is_taken_by_a_new_run(cgan_train, tmp_path):
    """The grid and metrics line of epoch 1 without last.pt: a new run once said the folder held a run."""
    out = tmp_path / "run"
    (out / "samples").mkdir(parents=True)
    (out / "samples" / "epoch_001.png").write_bytes(b"grid")
    (out / "metrics.jsonl").write_text('{"step": 4}\n')
    resumed = cgan_train(*SMOKE, "--out", out, "--resume")
    assert_one_line_error(resumed, EXIT_USAGE, "run again without --resume to start over")
    result = cgan_train(*SMOKE, "--out", out, "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    assert metric_steps(out) == [4] and (out / "samples" / "epoch_001.png").read_bytes() != b"grid"


def test_a_full_disk_while_saving_a_checkpoint_names_the_file(tmp_path):
    """torch's zip writer once said "[enforce fail at inline_container.cc] unexpected pos" instead."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    with pytest.raises(OSError, match="cannot write /dev/full: No space left on device"):
        save_checkpoint("/dev/full", {"spec": ModelSpec().to_dict(), "weights": torch.zeros(100_000)})


@pytest.mark.parametrize("signal_error", [KeyboardInterrupt, Terminated], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_saving_a_checkpoint_is_itself_and_the_old_file_stays(tmp_path, monkeypatch, signal_error):
    """Ctrl-C or SIGTERM inside torch's zip writer once surfaced as "[enforce fail ...]", exit 1."""
    from cgan_runtime import files

    path = tmp_path / "last.pt"
    save_checkpoint(path, {"spec": ModelSpec().to_dict(), "generator": {}})
    before = path.read_bytes()
    real_fdopen = files.os.fdopen

    class Interrupted:  # the signal lands once 5,000 bytes are written; the writes after it go through
        def __init__(self, fd, mode):
            self.file = real_fdopen(fd, mode)
            self.written, self.signalled = 0, False

        def write(self, data):
            self.written += len(data)
            if self.written > 5000 and not self.signalled:
                self.signalled = True
                raise signal_error()
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(files.os, "fdopen", Interrupted)
    with pytest.raises(signal_error):
        save_checkpoint(path, {"spec": ModelSpec().to_dict(), "weights": torch.zeros(100_000)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_checkpoint_whose_spec_claims_huge_images_is_refused_before_building_the_model(monkeypatch):
    """cgan-export on a spec claiming 3x1024x1024 once tried to allocate 12.9 GB."""
    spec = ModelSpec(arch="mlp")
    g, _ = build_models(spec)
    huge = {"spec": {**spec.to_dict(), "image_shape": [3, 1024, 1024]}, "generator": g.state_dict()}
    real = checkpoint.build_generator

    def on_meta_only(spec):
        assert torch.empty(0).device.type == "meta", "built the huge model for real"
        return real(spec)

    monkeypatch.setattr(checkpoint, "build_generator", on_meta_only)
    with pytest.raises(ValueError, match=r"does not match its spec: net\.11\.bias should be shape \[3145728\]"):
        inference_generator(huge)


def test_non_finite_weights_are_refused_before_export_or_evaluation():
    spec = ModelSpec(arch="mlp")
    g, _ = build_models(spec)
    weights = g.state_dict()
    weights["net.0.weight"][0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"generator holds NaN or infinity \(in net\.0\.weight\)"):
        inference_generator({"spec": spec.to_dict(), "generator": weights})


def test_a_plain_pickle_is_refused_in_one_line_without_torchs_warning(tmp_path, recwarn):
    """torch warns in two lines ("Detected pickle protocol 4 ...") before refusing a plain pickle."""
    import pickle

    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"generator": {}}, protocol=4))
    with pytest.raises(ValueError, match="is not a"):
        load_checkpoint(path)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@needs_mnist
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--seed", str(2**64)], EXIT_USAGE, "'--seed': 18446744073709551616 is not in the range 0<=x<=18446744073709551615"),
        (["--batch-size", "1"], EXIT_USAGE, "batch size 1 cannot train BatchNorm"),
        (["--threads", "0"], EXIT_USAGE, "--threads"),
        (["--resume"], EXIT_USAGE, "no "),
    ],
)
def test_bad_training_options_give_one_line(cgan_train, tmp_path, args, code, message):
    out = tmp_path / "run"
    assert_one_line_error(cgan_train(*SMOKE, "--out", out, *args), code, message)
    assert not out.exists()


@needs_mnist
def test_seeds_of_2_to_the_62_and_above_train(cgan_train, tmp_path):
    result = cgan_train(*SMOKE, "--out", tmp_path / "run", "--seed", str(2**62 + 1), "--max-steps", "1")
    assert result.exit_code == 0, result.stderr


@needs_mnist
def test_threads_option_sets_the_threads_of_the_process(cgan_train, tmp_path):
    result = cgan_train(*SMOKE, "--out", tmp_path / "run", "--threads", "2", "--max-steps", "1")
    assert result.exit_code == 0 and torch.get_num_threads() == 2


@needs_mnist
def test_out_paths_that_cannot_be_a_run_folder_give_one_line(cgan_train, tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    assert_one_line_error(cgan_train(*SMOKE, "--out", a_file), EXIT_USAGE, "is a file, not a folder")
    assert_one_line_error(cgan_train(*SMOKE, "--out", a_file / "run"), EXIT_USAGE, "is a file")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    access = os.access  # root may write anywhere: pretend the folder is read-only
    monkeypatch.setattr(os, "access", lambda path, mode: path != read_only and access(path, mode))
    assert_one_line_error(cgan_train(*SMOKE, "--out", read_only / "run"), 1, "is not writable")
    assert a_file.read_text() == "not a folder"


# --- checkpoints ------------------------------------------------------------------------


def test_checkpoints_that_do_not_fit_their_spec_are_one_line_value_errors(tmp_path):
    spec = ModelSpec(arch="mlp")
    g, _ = build_models(spec)
    good = {"spec": spec.to_dict(), "generator": g.state_dict()}
    save_checkpoint(tmp_path / "no-weights.pt", {"spec": spec.to_dict()})
    with pytest.raises(ValueError, match="incomplete: no generator"):
        load_checkpoint(tmp_path / "no-weights.pt")
    cases = {
        "does not match its spec": {**good, "spec": {**spec.to_dict(), "nz": 50}},
        "unknown arch 'gpt'": {**good, "spec": {**spec.to_dict(), "arch": "gpt"}},
        "unknown model spec fields": {**good, "spec": {**spec.to_dict(), "colour": 1}},
        "generator does not match": {**good, "generator": {"net.0.weight": torch.zeros(1)}},
        "not a state dict": {**good, "generator": [1, 2]},
    }
    for message, ckpt in cases.items():
        with pytest.raises(ValueError, match=message) as err:
            inference_generator(ckpt)
        assert "\n" not in str(err.value)


@needs_mnist
def test_resuming_a_checkpoint_without_the_training_state_gives_one_line(cgan_train, tmp_path):
    out = tmp_path / "run"
    train(smoke(epochs=1), MNIST_DIR, out, device="cpu")
    ckpt = load_checkpoint(out / "last.pt")
    save_checkpoint(out / "last.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version", "opt_d")})
    assert_one_line_error(cgan_train("--out", out, "--resume"), EXIT_USAGE, "cannot be resumed: no opt_d")


@needs_mnist
def test_resume_reads_the_named_set_from_the_runs_data_dir_from_any_working_directory(run_cli, tmp_path, monkeypatch):
    def cgan(*args):
        return run_cli(train_main, "cgan-train", "--no-download", "--recipe", "mlp", *args)

    first = cgan("--data-dir", MNIST_DIR, "--train-limit", 256, "--max-steps", 1, "--no-eval",
                 "--out", tmp_path / "run")
    assert first.exit_code == 0, first.stderr
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_config"]["data_dir"] == str(MNIST_DIR.resolve())
    monkeypatch.chdir(tmp_path)  # no ./data here: without the recorded --data-dir the set is not found
    resumed = run_cli(train_main, "cgan-train", "--no-download", "--resume", "--max-steps", 2, "--out", "run")
    assert resumed.exit_code == 0, resumed.stderr
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2
    torch.set_num_threads(1)


def test_resume_and_overwrite_together_are_refused_before_any_work(cgan_train, tmp_path):
    result = cgan_train("--resume", "--overwrite", "--out", tmp_path / "run")
    assert result.exit_code == EXIT_USAGE and result.stderr_lines == [
        "cgan-train: error: --resume continues the run in OUT and --overwrite replaces it: choose one"]
    assert not (tmp_path / "run").exists()
