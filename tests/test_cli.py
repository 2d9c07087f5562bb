"""`cgan-gen` as a user meets it: files written, what it prints, exit codes, one-line errors."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

import cgan_runtime
from cgan_runtime.commands.errors import EXIT_RUNTIME, EXIT_USAGE
from cgan_runtime.providers import CPU, CUDA

from support import BAD_MODELS, FIXTURES, TINY_MODEL, assert_one_line_error, install_default_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_cli_writes_one_digit_png_for_one_label(cgan_gen, generator, tmp_path):
    result = cgan_gen("--label", 5, "-o", "out.png", "--seed", 3, "--model", TINY_MODEL)
    assert result.exit_code == 0
    assert files_in(tmp_path) == ["out.png"]
    image = Image.open(tmp_path / "out.png")
    assert (image.mode, image.size) == ("L", (28, 28))
    np.testing.assert_array_equal(np.asarray(image), generator.generate([5], seed=3)[0])
    assert result.stderr_lines == [f"cgan-gen: wrote out.png (seed 3, {CPU})"]


def test_cli_writes_one_file_per_image_named_stem_label_index(cgan_gen, generator, tmp_path):
    result = cgan_gen("--label", 0, "--label", 7, "-n", 2, "-o", "digit.png", "--seed", 4, "--model", TINY_MODEL)
    assert result.exit_code == 0
    names = ["digit_0_0.png", "digit_0_1.png", "digit_7_0.png", "digit_7_1.png"]
    assert files_in(tmp_path) == names
    expected = generator.generate([0, 0, 7, 7], seed=4)
    for name, image in zip(names, expected, strict=True):
        np.testing.assert_array_equal(pixels(tmp_path / name), image)
    assert result.stderr_lines == [
        f"cgan-gen: wrote 4 images as digit_LABEL_INDEX.png, digit_0_0.png to digit_7_1.png (seed 4, {CPU})"
    ]


def test_cli_names_each_file_by_its_class_name_where_the_model_has_names(cgan_gen, tmp_path):
    result = cgan_gen("--label", "green,red", "-n", 2, "-o", "c.png", "--model", FIXTURES / "colour_generator.onnx")
    assert result.exit_code == 0, result.stderr
    assert files_in(tmp_path) == ["c_green_0.png", "c_green_1.png", "c_red_0.png", "c_red_1.png"]


def test_cli_comma_separated_labels_equal_repeated_flags(cgan_gen, tmp_path):
    cgan_gen("--label", "1,2", "-o", "a.png", "--seed", 0, "--model", TINY_MODEL)
    cgan_gen("-l", 1, "-l", 2, "-o", "b.png", "--seed", 0, "--model", TINY_MODEL)
    for label in (1, 2):
        np.testing.assert_array_equal(pixels(f"a_{label}_0.png"), pixels(f"b_{label}_0.png"))


def test_cli_all_labels_draws_every_class(cgan_gen, tmp_path):
    assert cgan_gen("--all-labels", "-o", "d.png", "--model", TINY_MODEL).exit_code == 0
    assert files_in(tmp_path) == [f"d_{label}_0.png" for label in range(10)]


def test_cli_grid_has_a_row_per_label_and_a_column_per_image(cgan_gen, generator, tmp_path):
    result = cgan_gen("--label", "3,1,4", "-n", 5, "--grid", "-o", "grid.png", "--seed", 2, "--model", TINY_MODEL)
    assert result.exit_code == 0 and files_in(tmp_path) == ["grid.png"]
    grid = pixels(tmp_path / "grid.png")
    assert grid.shape == (3 * (28 + 2) + 2, 5 * (28 + 2) + 2)
    row_1_col_4 = grid[2 + 30 : 2 + 30 + 28, 2 + 4 * 30 : 2 + 4 * 30 + 28]
    np.testing.assert_array_equal(row_1_col_4, generator.generate([1] * 5, seed=2)[4])


def test_cli_scale_enlarges_with_crisp_pixels(cgan_gen, generator, tmp_path):
    assert cgan_gen("--label", 8, "--scale", 3, "-o", "big.png", "--seed", 0, "--model", TINY_MODEL).exit_code == 0
    small = generator.generate([8], seed=0)[0]
    np.testing.assert_array_equal(pixels(tmp_path / "big.png"), small.repeat(3, axis=0).repeat(3, axis=1))


@pytest.mark.parametrize("args, size", [(["--label", 2], (28, 28)), (["--label", "2,3", "-n", 2, "--grid"], (62, 62))])
def test_cli_writes_one_png_to_stdout_with_dash(cgan_gen, tmp_path, args, size):
    result = cgan_gen(*args, "-o", "-", "--model", TINY_MODEL)
    assert result.exit_code == 0
    assert result.stdout.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(result.stdout)).size == size
    assert files_in(tmp_path) == []
    assert result.stderr_lines[0].startswith("cgan-gen: wrote PNG to stdout (seed ")


def test_cli_prints_the_random_seed_it_drew_so_a_run_can_be_repeated(cgan_gen):
    first = cgan_gen("--label", 6, "-o", "-", "--model", TINY_MODEL)
    seed = first.stderr_lines[0].split("seed ")[1].split(",")[0]
    again = cgan_gen("--label", 6, "-o", "-", "--seed", seed, "--model", TINY_MODEL)
    assert again.stdout == first.stdout


def test_cli_info_prints_spec_metadata_and_providers_without_generating(cgan_gen, tmp_path):
    result = cgan_gen("--info", "--model", TINY_MODEL)
    assert result.exit_code == 0
    lines = result.stdout.decode().splitlines()
    for expected in [
        "arch: tiny-fixture",
        "recipe: unknown",  # the fixture records none
        "nz: 8",
        "num_classes: 10",
        "image_shape: [1, 28, 28]",
        "classes: 0=0, 1=1, 2=2, 3=3, 4=4, 5=5, 6=6, 7=7, 8=8, 9=9",
        f"providers: {CPU}",
    ]:
        assert expected in lines
    assert "metadata cgan.format_version: 1" in lines
    assert files_in(tmp_path) == []


def test_cli_version_prints_the_package_version(cgan_gen):
    result = cgan_gen("--version")
    assert result.exit_code == 0
    assert result.stdout.decode() == f"cgan-gen {cgan_runtime.__version__}\n"


def test_cli_uses_the_shipped_model_when_none_is_given(cgan_gen, assets_dir, tmp_path):
    install_default_model(assets_dir)
    assert cgan_gen("--label", 1, "-o", "out.png").exit_code == 0
    assert (tmp_path / "out.png").is_file()


def test_cli_reports_a_cuda_fallback_as_one_warning_line(cgan_gen, fake_providers):
    fake_providers(available=[CUDA, CPU], in_use=[CPU])
    result = cgan_gen("--label", 1, "-o", "out.png", "--model", TINY_MODEL)
    assert result.exit_code == 0
    assert result.stderr_lines[0] == (
        f"cgan-gen: warning: CUDA is available but onnxruntime could not start it; running on {CPU}"
    )
    assert len(result.stderr_lines) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--label", 10], "label 10 is out of range: expected an integer in [0, 10)"),
        (["--label", "-1"], "label -1 is out of range"),
        (["--label", "1.5"], "unknown class '1.5': the classes are 0, 1, 2"),
        (["--label", "five"], "unknown class 'five'"),
        (["--label", "1,"], "--label got an empty label"),
        ([], "no label given"),
        (["--label", 1, "--all-labels"], "pass --label or --all-labels, not both"),
        (["--label", 1, "-n", 0], "'--count' / '-n'"),
        (["--label", 1, "-n", "x"], "'--count' / '-n'"),
        (["--label", 1, "--scale", 0], "'--scale'"),
        (["--label", 1, "--seed", -5], "'--seed'"),
        (["--label", 1, "--threads", 0], "'--threads'"),
        (["--label", 1, "-n", 2, "-o", "-"], "-o - writes a single PNG"),
        (["--all-labels", "-o", "-"], "-o - writes a single PNG"),
        (["--label", 1, "--provider", "gpu"], "--provider must be one of auto, cpu, cuda, got 'gpu'"),
        (["--no-such-option"], "No such option: --no-such-option"),
    ],
)
def test_cli_bad_usage_exits_2_with_one_line_and_no_file(cgan_gen, tmp_path, args, message):
    result = cgan_gen(*args, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, message, folder=tmp_path)


def test_cli_refuses_to_write_png_bytes_to_a_terminal(cgan_gen, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = cgan_gen("--label", 1, "-o", "-", "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "refusing to write PNG data to a terminal", folder=tmp_path)


def test_cli_missing_model_exits_1(cgan_gen, tmp_path):
    result = cgan_gen("--label", 1, "--model", "absent.onnx")
    assert_one_line_error(result, EXIT_RUNTIME, "no model file at absent.onnx", folder=tmp_path)


def test_cli_without_a_shipped_model_asks_for_one(cgan_gen, assets_dir, tmp_path):
    result = cgan_gen("--label", 1)
    assert_one_line_error(result, EXIT_RUNTIME, "no default model is installed", folder=tmp_path, before=["assets"])


def test_cli_corrupt_model_exits_1(cgan_gen, tmp_path):
    (tmp_path / "corrupt.onnx").write_bytes(os.urandom(4096))
    result = cgan_gen("--label", 1, "--model", "corrupt.onnx")
    assert_one_line_error(result, EXIT_RUNTIME, "corrupt.onnx is not a loadable ONNX model", folder=tmp_path, before=["corrupt.onnx"])


def test_cli_model_breaking_the_contract_exits_1(cgan_gen, tmp_path):
    result = cgan_gen("--label", 1, "--model", BAD_MODELS / "renamed_input.onnx")
    assert_one_line_error(result, EXIT_RUNTIME, "breaks the cgan-edge generator contract: expected inputs", folder=tmp_path)


def test_cli_cuda_requested_but_absent_exits_1(cgan_gen, fake_providers, tmp_path):
    fake_providers(available=[CPU], in_use=[CPU])
    result = cgan_gen("--label", 1, "--provider", "cuda", "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_RUNTIME, "provider 'cuda' was requested", folder=tmp_path)


@pytest.mark.parametrize(
    "output, message",
    [
        ("missing_dir/out.png", "cannot write missing_dir/out.png: no directory missing_dir"),
        ("a_file/out.png", "cannot write a_file/out.png: no directory a_file"),
        (".", "cannot write .: it is a directory"),
    ],
)
def test_cli_unwritable_output_exits_1_before_generating(cgan_gen, tmp_path, output, message):
    (tmp_path / "a_file").write_text("")
    result = cgan_gen("--label", 1, "-n", 3, "-o", output, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_RUNTIME, message, folder=tmp_path, before=["a_file"])


def test_cli_failed_write_exits_1_and_leaves_no_file(cgan_gen, tmp_path, monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("cgan_runtime.files.atomic_write_bytes", refuse)
    result = cgan_gen("--label", 1, "-o", "out.png", "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_RUNTIME, "cannot write out.png: Permission denied", folder=tmp_path)
