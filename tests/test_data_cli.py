"""`cgan-train` and `cgan-eval` with bad data, other data and bad options: one line, an exit code, nothing written."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from cgan_train.cli import eval_main, train_main  # noqa: E402

from support import assert_one_line_error  # noqa: E402

SKIPPED = ("skipped ",)  # --skip-bad-images' report of what it skipped, beside the error
SIZE = 8  # tiny images: the evaluation classifier's 500 training steps take seconds


def cgan_train(run_cli, *args):
    return run_cli(train_main, "cgan-train", *args)


def cgan_eval(run_cli, *args):
    return run_cli(eval_main, "cgan-eval", *args)


def break_no_class_folders(root: Path) -> str:
    for folder in list(root.iterdir()):
        shutil.rmtree(folder)
    Image.new("RGB", (SIZE, SIZE)).save(root / "loose.png")
    return "has no class folders"


def break_empty_class(root: Path) -> str:
    (root / "emu").mkdir()
    return f"class folder {root / 'emu'} has no images"


def break_one_class(root: Path) -> str:
    shutil.rmtree(root / "dog")
    shutil.rmtree(root / "owl")
    return "one class folder (cat)"


def break_corrupt_image(root: Path) -> str:
    (root / "dog" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n...")
    return f"cannot read image {root / 'dog' / 'bad.png'}"


def break_mixed_sizes(root: Path) -> str:
    Image.new("RGB", (SIZE * 2, SIZE * 2)).save(root / "owl" / "big.png")
    return "pass --image-size"


BREAKS = [break_no_class_folders, break_empty_class, break_one_class, break_corrupt_image, break_mixed_sizes]


@pytest.mark.parametrize("damage", BREAKS, ids=lambda f: f.__name__[6:])
def test_bad_folders_get_one_line_exit_2_and_no_run_folder(run_cli, tmp_path, colour_folder, damage):
    root = colour_folder(tmp_path / "pets", size=SIZE)
    expected = damage(root)
    result = cgan_train(run_cli, "--data", root, "--out", tmp_path / "run", "--max-steps", 1)
    assert_one_line_error(result, 2, expected, besides=SKIPPED)
    assert not (tmp_path / "run").exists()


def test_an_absent_set_with_no_download_gets_one_line_and_nothing_is_created(run_cli, tmp_path):
    result = cgan_train(run_cli, "--data", "kmnist", "--data-dir", tmp_path / "data", "--no-download",
                        "--out", tmp_path / "run")
    assert_one_line_error(result, 2, "KMNIST not found", besides=SKIPPED)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_mnist_files_are_found_before_training(run_cli, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08")
    result = cgan_train(run_cli, "--data-dir", tmp_path / "data", "--no-download", "--out", tmp_path / "run")
    assert_one_line_error(result, 2, "corrupt idx file", "train-images-idx3-ubyte", besides=SKIPPED)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generator trained two steps on a tiny colour folder (with an unreadable file, skipped)."""
    tmp = tmp_path_factory.mktemp("folder-run")
    root = tmp / "pets"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "owl")):
        (root / name).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(rng.integers(-30, 30, (SIZE, SIZE, 3)) + 60 * (c + 1), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(root / name / f"{i:03d}.png")
    (root / "cat" / "zz-bad.jpg").write_bytes(b"not a jpeg")
    args = ["--data", root, "--recipe", "edge", "--skip-bad-images", "--max-steps", 2, "--batch-size", 16, "--no-eval", "--out", tmp / "run"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["cgan-train", *map(str, args)])
        try:
            train_main()
        except SystemExit as exc:
            pytest.fail(f"cgan-train exited {exc.code}")
    return tmp / "run" / "last.pt", root


def test_a_folder_run_resumes_from_another_folder_with_the_data_spelt_another_way(run_cli, tmp_path, colour_folder,
                                                                                   monkeypatch):
    colour_folder(tmp_path / "pets", size=SIZE)
    monkeypatch.chdir(tmp_path)
    first = cgan_train(run_cli, "--data", "pets/", "--recipe", "edge", "--max-steps", 1, "--batch-size", 8,
                       "--no-eval", "--out", "run")
    assert first.exit_code == 0, first.stderr
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    resumed = cgan_train(run_cli, "--resume", "--data", "../pets", "--max-steps", 2, "--out", "../run")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from ../run/last.pt: epoch 0, step 1" in resumed.stdout.decode()


def test_a_folder_trains_with_its_shape_and_class_names(folder_run):
    from cgan_train.checkpoint import load_checkpoint

    checkpoint, _ = folder_run
    spec = load_checkpoint(checkpoint)["spec"]
    assert tuple(spec["image_shape"]) == (3, SIZE, SIZE)
    assert list(spec["class_names"]) == ["cat", "dog", "owl"] and spec["dataset"] == "pets"


def test_cgan_eval_scores_a_folder_model_against_its_held_out_images(run_cli, folder_run, tmp_path):
    best, root = folder_run
    out = tmp_path / "eval.json"
    result = cgan_eval(run_cli, best, "--data", root, "--skip-bad-images", "--json", out, "--threads", 1)
    assert result.exit_code == 0, result.stderr
    # The progress display is for terminals: in a log, stderr keeps only what was said (not a blank line).
    assert all(line.strip() for line in result.stderr.splitlines()), result.stderr
    table = result.stdout.decode()
    assert "| label | cat | dog | owl |" in table and "held out: 9 of 90 images" in table
    report = json.loads(out.read_text())
    assert report["dataset"] == "pets" and report["parzen_ll"] is None
    assert report["samples_per_label"] == 27  # the default, capped at what the real floor can match


def test_cgan_eval_failing_while_scoring_is_one_line_and_writes_no_json(run_cli, folder_run, tmp_path, monkeypatch):
    from cgan_train.evaluation import Evaluator

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory while scoring")

    monkeypatch.setattr(Evaluator, "full", out_of_memory)
    best, root = folder_run
    out = tmp_path / "eval.json"
    assert_one_line_error(cgan_eval(run_cli, best, "--data", root, "--skip-bad-images", "--json", out), 1,
             "out of memory while scoring", besides=SKIPPED)
    assert not out.exists()


def test_cgan_eval_of_a_checkpoint_reads_the_folder_its_run_read(run_cli, folder_run):
    best, _ = folder_run  # trained with --skip-bad-images, which the run records too
    result = cgan_eval(run_cli, best, "--threads", 1)
    assert result.exit_code == 0, result.stderr
    assert "| label | cat | dog | owl |" in result.stdout.decode()


def test_cgan_eval_errors_are_one_line_each(run_cli, folder_run, tmp_path, colour_folder):
    best, root = folder_run
    assert_one_line_error(cgan_eval(run_cli, best, "--data", root, "--skip-bad-images", "--per-label", 28), 2,
             "--per-label 28", "smallest class", besides=SKIPPED)
    other = colour_folder(tmp_path / "birds", size=SIZE, classes=["emu", "owl", "tit"])
    assert_one_line_error(cgan_eval(run_cli, best, "--data", other), 2, "the model makes 3x8x8 images of 3 classes (cat, dog, owl)",
             "birds has 3x8x8 images of 3 classes (emu, owl, tit)", besides=SKIPPED)
    assert_one_line_error(cgan_eval(run_cli, tmp_path / "missing.pt", "--json", tmp_path / "no" / "dir.json"), 1,
             "cannot write", "no directory", besides=SKIPPED)
    assert_one_line_error(cgan_eval(run_cli, best, "--threads", 0), 2, besides=SKIPPED)
    assert_one_line_error(cgan_eval(run_cli, best, "--seed", 2**64), 2, "--seed")  # more than torch's generator holds
    # A missing or broken model file: exit 1, as cgan-gen and cgan-export give.
    assert_one_line_error(cgan_eval(run_cli, tmp_path / "missing.pt"), 1, "checkpoint not found", besides=SKIPPED)
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    assert_one_line_error(cgan_eval(run_cli, tmp_path / "broken.onnx"), 1, "broken.onnx", besides=SKIPPED)
    assert_one_line_error(cgan_eval(run_cli, best, "--data", root, "--channels", 2), 2, "channels must be 1 or 3", besides=SKIPPED)


@pytest.mark.parametrize("change", ["grown", "shrunk"])
def test_resume_refuses_a_folder_whose_images_changed_since_the_run_started(run_cli, tmp_path, colour_folder, change):
    """Grown, every resume once failed as "training diverged ... (try a lower --lr)"; shrunk, it went on silently."""
    root = colour_folder(tmp_path / "pets", size=SIZE)
    first = cgan_train(run_cli, "--data", root, "--recipe", "mlp", "--max-steps", 1, "--batch-size", 8,
                       "--no-eval", "--out", tmp_path / "run")
    assert first.exit_code == 0, first.stderr
    if change == "grown":
        colour_folder(tmp_path / "more", size=SIZE)
        for path in (tmp_path / "more" / "cat").iterdir():
            shutil.copy(path, root / "cat" / f"new-{path.name}")
    else:
        next((root / "dog").iterdir()).unlink()
    resumed = cgan_train(run_cli, "--resume", "--max-steps", 2, "--out", tmp_path / "run")
    assert_one_line_error(resumed, 2, f"--resume: {root} has changed since this run started", "now, 24 images, sha256",
             "start a new run", besides=SKIPPED)


def test_training_that_cannot_fit_in_memory_is_refused_before_the_models_are_built(run_cli, tmp_path, colour_folder,
                                                                                    monkeypatch):
    """--image-size 512 --channels 3 --recipe edge once grew to 8.7 GB and died in torch's allocator."""
    root = colour_folder(tmp_path / "pets", size=SIZE)
    monkeypatch.setattr("cgan_train.footprint.free_memory", lambda device: (64 << 20, "available memory"))
    result = cgan_train(run_cli, "--data", root, "--recipe", "edge", "--image-size", 64, "--batch-size", 8,
                        "--max-steps", 1, "--no-eval", "--out", tmp_path / "run")
    assert_one_line_error(result, 1, "training the mlp models on 3x64x64 images, 8 per step, needs about",
             "use a smaller --image-size or --batch-size", besides=SKIPPED)
    assert not (tmp_path / "run").exists()


def test_cgan_eval_cas_puts_each_label_beside_the_real_ceiling_with_its_cost(run_cli, folder_run, tmp_path):
    best, root = folder_run
    out = tmp_path / "eval.json"
    result = cgan_eval(run_cli, best, "--data", root, "--skip-bad-images", "--cas", "--cas-per-label", 10,
                       "--json", out, "--threads", 1)
    assert result.exit_code == 0, result.stderr
    table = result.stdout.decode()
    assert "| trained on | all | cat | dog | owl |" in table and "| real training images (ceiling) |" in table
    assert "30 generated images (10 per class, seed 0) against 81 real ones (27 per class)" in table
    assert "s training" in table
    cas = json.loads(out.read_text())["cas"]
    assert len(cas["per_class"]) == 3 and 0 <= cas["accuracy"] <= 1 and cas["training_s"] > 0
    assert_one_line_error(cgan_eval(run_cli, best, "--cas-per-label", 10), 2, "--cas-per-label is for --cas", besides=SKIPPED)
