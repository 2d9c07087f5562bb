"""`cgan-gen --mix / --morph / --walk` as a user meets them, on the tiny fixtures (no torch)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageSequence

from cgan_runtime import Generator
from cgan_runtime.animation import morph, walk
from cgan_runtime.commands.errors import EXIT_RUNTIME, EXIT_USAGE

from support import FIXTURES, TINY_MIXING_MODEL, TINY_MODEL, assert_one_line_error

COLOUR_MODEL = FIXTURES / "colour_generator.onnx"  # 3x8x8, classes red, green, blue; format version 1


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def mixer() -> Generator:
    return Generator(TINY_MIXING_MODEL, provider="cpu", threads=1)


def frames_of(path) -> list[np.ndarray]:
    return [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(Image.open(path))]


def test_mix_writes_the_mixed_digit(cgan_gen, mixer, tmp_path):
    result = cgan_gen("--mix", "3=0.7,8=0.3", "-o", "m.png", "--seed", 5, "--model", TINY_MIXING_MODEL)
    assert result.exit_code == 0, result.stderr
    assert os.listdir(tmp_path) == ["m.png"]
    expected = mixer.generate_mixed({3: 0.7, 8: 0.3}, seed=5)[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), expected)
    assert result.stderr_lines == [f"cgan-gen: wrote m.png (seed 5, {mixer.providers[0]})"]


def test_a_pure_mix_is_the_labels_own_digit(cgan_gen, tmp_path):
    assert cgan_gen("--mix", "4=1", "-o", "m.png", "--seed", 2, "--model", TINY_MIXING_MODEL).exit_code == 0
    assert cgan_gen("--label", 4, "-o", "l.png", "--seed", 2, "--model", TINY_MIXING_MODEL).exit_code == 0
    assert (tmp_path / "m.png").read_bytes() == (tmp_path / "l.png").read_bytes()


def test_mix_count_and_grid_make_one_row_of_different_digits(cgan_gen, tmp_path):
    result = cgan_gen("--mix", "1=0.5,7=0.5", "-n", 3, "--grid", "-o", "g.png", "--seed", 1, "--model", TINY_MIXING_MODEL)
    assert result.exit_code == 0, result.stderr
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (28 + 4, 3 * 30 + 2)
    cells = [grid[2:30, 2 + 30 * i : 30 + 30 * i] for i in range(3)]
    assert len({cell.tobytes() for cell in cells}) == 3


@pytest.mark.parametrize("suffix", ["gif", "webp"])
def test_morph_writes_an_animation_of_the_api_frames(cgan_gen, mixer, tmp_path, suffix):
    args = ("--morph", "3:8", "--frames", 6, "--fps", 5, "--seed", 9, "--model", TINY_MIXING_MODEL)
    result = cgan_gen(*args, "-o", f"morph.{suffix}")
    assert result.exit_code == 0, result.stderr
    assert result.stderr_lines == [f"cgan-gen: wrote morph.{suffix} (6 frames, seed 9, {mixer.providers[0]})"]
    expected = morph(mixer, 3, 8, 6, seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(frames_of(tmp_path / f"morph.{suffix}"), expected, strict=True))
    animation = Image.open(tmp_path / f"morph.{suffix}")
    animation.load()  # WebP reports a frame's duration once the frame is read
    assert animation.info["duration"] == 200
    # Same seed, same animation, byte for byte.
    assert cgan_gen(*args, "-o", f"again.{suffix}").exit_code == 0
    assert (tmp_path / f"again.{suffix}").read_bytes() == (tmp_path / f"morph.{suffix}").read_bytes()


def test_walk_works_on_a_version_1_file_and_scales_its_frames(cgan_gen, generator, tmp_path):
    result = cgan_gen("--walk", 5, "--frames", 4, "--scale", 2, "--no-loop", "-o", "w.gif", "--seed", 3, "--model", TINY_MODEL)
    assert result.exit_code == 0, result.stderr
    frames = frames_of(tmp_path / "w.gif")
    expected = walk(generator, 5, 4, seed=3)
    assert [f.shape for f in frames] == [(56, 56)] * 4
    assert all(np.array_equal(a[::2, ::2], b) for a, b in zip(frames, expected, strict=True))
    assert "loop" not in Image.open(tmp_path / "w.gif").info


def test_an_animation_loops_forever_unless_told_no_loop(cgan_gen, tmp_path):
    assert cgan_gen("--morph", "3:8", "--frames", 3, "-o", "m.gif", "--seed", 1, "--model", TINY_MIXING_MODEL).exit_code == 0
    assert Image.open(tmp_path / "m.gif").info["loop"] == 0  # GIF's "forever"


def test_walk_takes_a_class_name_and_keeps_colour_frames_exact_in_webp(cgan_gen, tmp_path):
    result = cgan_gen("--walk", "green", "--frames", 3, "-o", "w.webp", "--seed", 1, "--model", COLOUR_MODEL)
    assert result.exit_code == 0, result.stderr
    decoded = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(Image.open(tmp_path / "w.webp"))]
    expected = walk(Generator(COLOUR_MODEL, provider="cpu"), 1, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected, strict=True))


@pytest.mark.parametrize("suffix", ["jpg", "webp"])
def test_mixes_and_strips_take_the_still_formats(cgan_gen, tmp_path, suffix):
    mix = cgan_gen("--mix", "3=0.5,8=0.5", "-o", f"m.{suffix}", "--seed", 1, "--model", TINY_MIXING_MODEL)
    strip = cgan_gen("--morph", "3:8", "--frames", 3, "--grid", "-o", f"s.{suffix}", "--model", TINY_MIXING_MODEL)
    assert mix.exit_code == 0 and strip.exit_code == 0, mix.stderr + strip.stderr
    assert Image.open(tmp_path / f"m.{suffix}").format == Image.open(tmp_path / f"s.{suffix}").format
    assert Image.open(tmp_path / f"s.{suffix}").size == (3 * 30 + 2, 32)


def test_grid_lays_the_frames_out_as_one_strip(cgan_gen, mixer, tmp_path):
    result = cgan_gen("--morph", "0:9", "--frames", 5, "--grid", "-o", "strip.png", "--seed", 4, "--model", TINY_MIXING_MODEL)
    assert result.exit_code == 0, result.stderr
    strip = np.asarray(Image.open(tmp_path / "strip.png"))
    assert strip.shape == (32, 5 * 30 + 2)
    assert np.array_equal(strip[2:30, 2 + 4 * 30 : 30 + 4 * 30], morph(mixer, 0, 9, 5, seed=4)[-1])


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (("--mix", "3=-0.2,8=1.2", "-o", "x.png"), EXIT_USAGE, "class weights must be >= 0, got -0.2 for class 3"),
        (("--mix", "3=0.7,8=0.2", "-o", "x.png"), EXIT_USAGE, "must sum to 1 per image, got 0.9"),
        (("--mix", "3=0.5,12=0.5", "-o", "x.png"), EXIT_USAGE, "label 12 is out of range"),
        (("--mix", "3=nan,8=1", "-o", "x.png"), EXIT_USAGE, "must be finite numbers"),
        (("--mix", "3:0.7", "-o", "x.png"), EXIT_USAGE, "--mix takes CLASS=WEIGHT pairs like 3=0.7,8=0.3"),
        (("--mix", "three=1", "-o", "x.png"), EXIT_USAGE, "unknown class 'three': the classes are 0, 1, 2"),
        (("--mix", "3=0.5,3=0.5", "-o", "x.png"), EXIT_USAGE, "--mix names class 3 twice"),
        (("--mix", "3=1", "--frames", 4, "-o", "x.png"), EXIT_USAGE, "--frames, --fps and --loop are for --morph and --walk"),
        (("--morph", "3:12", "-o", "x.gif"), EXIT_USAGE, "label 12 is out of range"),
        (("--morph", "3-8", "-o", "x.gif"), EXIT_USAGE, "--morph takes FROM:TO classes like 3:8"),
        (("--morph", "3:8", "--frames", 0, "-o", "x.gif"), EXIT_USAGE, "'--frames': 0 is not in the range x>=2"),
        (("--walk", 3, "--frames", 1, "-o", "x.gif"), EXIT_USAGE, "'--frames': 1 is not in the range x>=2"),
        (("--walk", 3, "--fps", 0, "-o", "x.gif"), EXIT_USAGE, "'--fps': 0 is not in the range 1<=x<=50"),
        (("--walk", 12, "-o", "x.gif"), EXIT_USAGE, "label 12 is out of range"),
        (("--morph", "3:8", "-o", "x.jpg"), EXIT_USAGE, "--morph writes an animation: name a .gif or .webp file"),
        (("--walk", 3, "-o", "x.png"), EXIT_USAGE, "or add --grid for a still strip"),
        (("--walk", 3, "-n", 2, "-o", "x.gif"), EXIT_USAGE, "--walk draws --frames images"),
        (("--walk", 3, "--morph", "3:8", "-o", "x.gif"), EXIT_USAGE, "pass one of --mix, --morph and --walk"),
        (("--walk", 3, "--label", 3, "-o", "x.gif"), EXIT_USAGE, "--walk replaces --label"),
        (("--label", 3, "--frames", 4, "-o", "x.png"), EXIT_USAGE, "--frames, --fps and --loop are for --morph and --walk"),
        (("--label", 3, "--no-loop", "-o", "x.png"), EXIT_USAGE, "--frames, --fps and --loop are for --morph and --walk"),
        (("--mix", "3=1", "--no-loop", "-o", "x.png"), EXIT_USAGE, "--frames, --fps and --loop are for --morph and --walk"),
        (("--walk", 3, "--grid", "--no-loop", "-o", "x.png"), EXIT_USAGE, "--fps and --loop are for animations"),
        (("--morph", "3:8", "--grid", "--fps", 5, "-o", "x.png"), EXIT_USAGE, "--fps and --loop are for animations"),
    ],
)
def test_bad_requests_fail_with_one_line_and_write_nothing(cgan_gen, tmp_path, args, code, fragment):
    assert_one_line_error(cgan_gen(*args, "--model", TINY_MIXING_MODEL), code, fragment, folder=tmp_path)


@pytest.mark.parametrize("args", [("--mix", "3=1", "-o", "x.png"), ("--morph", "3:8", "-o", "x.gif")])
def test_mixing_a_version_1_file_says_to_re_export_and_writes_nothing(cgan_gen, tmp_path, args):
    result = cgan_gen(*args, "--model", TINY_MODEL)
    assert result.exit_code == EXIT_RUNTIME
    assert len(result.stderr_lines) == 1
    assert "cannot mix classes: re-export it with cgan-export" in result.stderr_lines[0]
    assert os.listdir(tmp_path) == []
