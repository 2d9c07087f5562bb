"""`cgan-gen --dataset`: labelled sets as class folders or one .npz, continued after a kill, never mixed."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cgan_runtime.dataset import MAX_HELD_FOLDERS, STORE_UP_TO, model_sha256

from support import FIXTURES, TINY_MODEL, assert_one_line_error

COLOUR_MODEL = FIXTURES / "colour_generator.onnx"


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture)


def test_a_png_set_is_class_folders_of_the_images_generate_draws_and_a_manifest(cgan_gen, tmp_path, generator):
    result = cgan_gen("--dataset", tmp_path / "set", "--per-label", 3, "--label", "7,2", "--seed", 5,
                      "--model", TINY_MODEL)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["2", "7", "dataset.json", "manifest.csv"]
    with open(tmp_path / "set" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["file"] for row in rows] == [f"{c}/{c}_{j}.png" for c in (2, 7) for j in range(3)]
    assert {(row["class_index"], row["class_name"], row["seed"]) for row in rows} == {("2", "2", "5"), ("7", "7", "5")}
    expected = generator.generate([2, 2, 2, 7, 7, 7], seed=5)  # (seed, label, j) decides each image
    for row, image in zip(rows, expected):
        assert (pixels(tmp_path / "set" / row["file"]) == image).all()


def test_an_npz_set_holds_the_same_images_with_labels_names_seed_and_model_hash(cgan_gen, tmp_path):
    for fmt, path in (("png", tmp_path / "set"), ("npz", tmp_path / "set.npz")):
        result = cgan_gen("--dataset", path, "--format", fmt, "--per-label", 2, "--all-labels", "--seed", 9,
                          "--scale", 2, "--model", COLOUR_MODEL)
        assert result.exit_code == 0, result.stderr
    with np.load(tmp_path / "set.npz", allow_pickle=False) as held:
        assert held["images"].dtype == np.uint8 and held["images"].shape == (6, 3, 16, 16)
        assert held["labels"].tolist() == [0, 0, 1, 1, 2, 2] and held["j"].tolist() == [0, 1] * 3
        assert held["class_names"].tolist() == ["red", "green", "blue"] and int(held["seed"]) == 9
        assert str(held["model_sha256"]) == model_sha256(COLOUR_MODEL)
        for image, label, j in zip(held["images"], held["labels"], held["j"]):
            name = held["class_names"][label]
            assert (pixels(tmp_path / "set" / name / f"{name}_{j}.png") == image.transpose(1, 2, 0)).all()



def test_pictures_that_fit_one_block_are_stored_uncompressed_and_larger_ones_compressed(cgan_gen, tmp_path):
    assert 28 * 28 <= STORE_UP_TO < 56 * 56  # the tiny model's digits, at scale 1 and 2
    for scale in (1, 2):
        assert cgan_gen("--dataset", tmp_path / f"x{scale}", "--per-label", 1, "--label", 0, "--scale", scale,
                        "--seed", 0, "--model", TINY_MODEL).exit_code == 0
    # signature, IHDR, IEND and zlib's header, stored-block header and checksum around the rows
    assert (tmp_path / "x1" / "0" / "0_0.png").stat().st_size == 68 + 28 * (1 + 28)
    assert (tmp_path / "x2" / "0" / "0_0.png").stat().st_size < 56 * (1 + 56)


def test_a_set_of_more_classes_than_folders_held_open_writes_every_class(cgan_gen, tmp_path):
    labels = ",".join(map(str, range(MAX_HELD_FOLDERS + 1)))  # their folders are reached by path
    assert cgan_gen("--dataset", tmp_path / "set", "--per-label", 1, "--label", labels, "--seed", 0,
                    "--model", FIXTURES / "many_classes.onnx").exit_code == 0
    folders = [p for p in (tmp_path / "set").iterdir() if p.is_dir()]
    assert len(folders) == MAX_HELD_FOLDERS + 1
    assert all([f.name for f in folder.iterdir()] == [f"{folder.name}_0.png"] for folder in folders)

KILLABLE = """
import sys
import cgan_runtime.dataset as dataset
from cgan_runtime.commands.gen import main
dataset.BATCH_SIZE = dataset.COMMIT_EVERY = 32  # many small commits, so a kill lands between two of them
sys.argv = ["cgan-gen", *sys.argv[1:]]
main()
"""


SET = ("--per-label", 60, "--all-labels", "--seed", 11, "--model", TINY_MODEL, "--threads", 1)


def test_a_set_killed_half_way_is_finished_by_the_same_command_and_equals_an_uninterrupted_one(cgan_gen, tmp_path):
    assert cgan_gen("--dataset", tmp_path / "whole", *SET).exit_code == 0

    killed = subprocess.Popen([sys.executable, "-c", KILLABLE, "--dataset", str(tmp_path / "killed"), *map(str, SET)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "killed" / "0" / "0_0.png"
    deadline = time.monotonic() + 60
    while not first.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    left = files_of(tmp_path / "killed")
    assert "manifest.csv" not in left and 1 <= sum(name.endswith(".png") for name in left) < 600, "not half-way"

    resumed = cgan_gen("--dataset", tmp_path / "killed", *SET)
    assert resumed.exit_code == 0 and "missing images of 600" in resumed.stderr, resumed.stderr
    assert files_of(tmp_path / "killed") == files_of(tmp_path / "whole")  # no temp file left either


def test_continuing_writes_only_the_missing_images(cgan_gen, tmp_path):
    args = ("--dataset", tmp_path / "set", "--per-label", 4, "--label", 3, "--seed", 1, "--model", TINY_MODEL)
    assert cgan_gen(*args).exit_code == 0
    kept = tmp_path / "set" / "3" / "3_0.png"
    before = kept.stat()
    (tmp_path / "set" / "3" / "3_2.png").unlink()
    (tmp_path / "set" / "manifest.csv").unlink()
    result = cgan_gen(*args)
    assert result.exit_code == 0 and "the 1 missing images of 4" in result.stderr
    assert kept.stat().st_ino == before.st_ino and kept.stat().st_mtime_ns == before.st_mtime_ns
    assert (tmp_path / "set" / "3" / "3_2.png").is_file() and (tmp_path / "set" / "manifest.csv").is_file()
    again = cgan_gen(*args[:-4], "--model", TINY_MODEL)  # the seed, left out, is the set's own
    assert again.exit_code == 0 and "already holds this set: 4 images (seed 1)" in again.stderr


def test_a_folder_holding_another_request_or_other_files_is_refused_untouched(cgan_gen, tmp_path):
    base = ("--per-label", 2, "--label", 1, "--model", TINY_MODEL)
    assert cgan_gen("--dataset", tmp_path / "set", *base, "--seed", 1).exit_code == 0
    before = files_of(tmp_path / "set")
    assert_one_line_error(cgan_gen("--dataset", tmp_path / "set", *base, "--seed", 2), 2, "holds another set (seed 1, not 2)")
    assert_one_line_error(cgan_gen("--dataset", tmp_path / "set", *base[:-1], COLOUR_MODEL, "--seed", 1), 2, "holds another set")
    assert files_of(tmp_path / "set") == before
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"mine")
    assert_one_line_error(cgan_gen("--dataset", tmp_path / "photos", *base), 2, "is not empty and holds no cgan-gen set")
    assert files_of(tmp_path / "photos") == {"cat.jpg": b"mine"}
    (tmp_path / "other.npz").write_bytes(b"not a set")
    assert_one_line_error(cgan_gen("--dataset", tmp_path / "other.npz", *base), 2, "is not a cgan-gen set")


def test_usage_errors_are_one_line_and_write_nothing(cgan_gen, tmp_path):
    target = tmp_path / "set"
    assert_one_line_error(cgan_gen("--dataset", target, "--all-labels", "--model", TINY_MODEL), 2, "needs --per-label")
    assert_one_line_error(cgan_gen("--per-label", 3, "--all-labels"), 2, "are for --dataset")
    assert_one_line_error(cgan_gen("--dataset", target, "--per-label", 3, "--all-labels", "--grid"), 2, "--grid does not apply")
    assert_one_line_error(cgan_gen("--dataset", target, "--per-label", 3, "--all-labels", "--format", "npz"), 2,
              f"name it {target}.npz")
    assert_one_line_error(cgan_gen("--dataset", tmp_path / "no" / "set", "--per-label", 3, "--all-labels", "--model", TINY_MODEL),
              1, "no directory")
    assert not target.exists() and not (tmp_path / "no").exists()


def test_a_request_too_large_for_the_disk_is_refused_before_anything_is_written(cgan_gen, tmp_path, monkeypatch):
    monkeypatch.setattr("cgan_runtime.budget.free_space", lambda folder: (1 << 20, 0))
    result = cgan_gen("--dataset", tmp_path / "set", "--per-label", 1000, "--all-labels", "--model", TINY_MODEL)
    assert_one_line_error(result, 2, "of disk")
    assert not (tmp_path / "set").exists()


def test_cgan_train_trains_on_a_written_folder(cgan_gen, run_cli, tmp_path):
    pytest.importorskip("torch")
    from cgan_train.cli import train_main

    assert cgan_gen("--dataset", tmp_path / "set", "--per-label", 8, "--all-labels", "--model", COLOUR_MODEL,
                    "--seed", 0).exit_code == 0
    result = run_cli(train_main, "cgan-train", "--data", tmp_path / "set", "--recipe", "edge", "--max-steps", 1,
                     "--batch-size", 8, "--no-eval", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    from cgan_train.checkpoint import load_checkpoint

    spec = load_checkpoint(tmp_path / "run" / "last.pt")["spec"]
    assert list(spec["class_names"]) == ["blue", "green", "red"]  # the folders, in name order
    assert tuple(spec["image_shape"]) == (3, 8, 8) and json.loads((tmp_path / "set" / "dataset.json").read_text())
