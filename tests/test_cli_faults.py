"""`cgan-gen` under bad input and faults: formats, resource bounds, odd destinations, stdout, interrupts.

Each case gets one line and a documented exit code, and never loses or replaces a file it should not.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cgan_runtime.commands import gen as cli, gen_shared
from cgan_runtime.commands.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE
from cgan_runtime.inputs import MAX_THREADS

from support import (
    BAD_MODELS, FIXTURES, MANY_CLASSES_MODEL, NUMBERED_MODEL, ODD_NAMES_MODEL, TINY_MIXING_MODEL, TINY_MODEL,
    assert_one_line_error,
)

COLOUR_MODEL = FIXTURES / "colour_generator.onnx"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def cgan_gen_process(*args: object, stdout) -> subprocess.CompletedProcess:
    """`cgan-gen ARGS` in its own process, through the console-script entry point."""
    code = "from cgan_runtime.commands.launch import gen; gen()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, timeout=120
    )


# Formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, pil_format", [("x.png", "PNG"), ("x.jpg", "JPEG"), ("x.JPEG", "JPEG"), ("x.webp", "WEBP")])
def test_the_output_suffix_picks_the_file_format(cgan_gen, generator, tmp_path, name, pil_format):
    assert cgan_gen("--label", 3, "--seed", 1, "-o", name, "--model", TINY_MODEL).exit_code == 0
    image = Image.open(tmp_path / name)
    assert image.format == pil_format and image.size == (28, 28)
    if pil_format != "JPEG":  # JPEG is lossy; PNG and (lossless) WebP keep every pixel
        np.testing.assert_array_equal(np.asarray(image.convert("L")), generator.generate([3], seed=1)[0])


def test_several_images_keep_the_suffix_and_its_format(cgan_gen, tmp_path):
    assert cgan_gen("--label", "1,2", "-o", "d.webp", "--model", TINY_MODEL).exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["d_1_0.webp", "d_2_0.webp"]
    assert Image.open(tmp_path / "d_1_0.webp").format == "WEBP"


@pytest.mark.parametrize("name", ["x.gif", "x", "x.png.bak", "x.tiff"])
def test_an_unknown_suffix_is_refused_before_generating(cgan_gen, tmp_path, name):
    result = cgan_gen("--label", 3, "-o", name, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "cannot tell the image format from")
    assert os.listdir(tmp_path) == []


# Resource bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--label", 1, "--scale", 100_000], "2800000 x 2800000 = 7,840,000,000,000 pixels, more than the"),
        (["--label", 1, "--scale", 5000], "140000 x 140000 = 19,600,000,000 pixels"),
        (["--label", 1, "--scale", 5000, "-o", "x.jpg"], "JPEG stores at most 65500 a side"),
        (["--label", 1, "--scale", 700, "-o", "x.webp"], "WEBP stores at most 16383 a side"),
        (["--label", 1, "--scale", 600], "more than the 268,435,456 allowed"),
        (["--all-labels", "-n", 10**9], "of memory, more than the"),
        (["--all-labels", "-n", 10**6, "--grid"], "pixels, more than the 268,435,456 allowed"),
        (["--label", 1, "--threads", 2_147_483_648], f"--threads must be an integer in [1, {MAX_THREADS}]"),
        (["--label", 1, "--seed", 2**53], "'--seed': 9007199254740992 is not in the range 0<=x<=9007199254740991"),
    ],
)
def test_requests_too_large_are_refused_in_one_line_before_allocating(cgan_gen, tmp_path, args, message):
    result = cgan_gen(*args, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, message)
    assert os.listdir(tmp_path) == []


def test_files_that_cannot_fit_on_the_disk_are_refused_before_generating(cgan_gen, tmp_path, monkeypatch):
    monkeypatch.setattr("cgan_runtime.budget.free_space", lambda folder: (10**6, 0))
    result = cgan_gen("--all-labels", "-n", 1000, "--model", TINY_MODEL)
    # Sizes in the unit that keeps them readable (it used to say "0.0 GiB of disk, and . has 0.0 GiB free").
    assert_one_line_error(result, EXIT_USAGE, "10,000 files may need 39.1 MiB of disk, and . has 976.6 KiB free")
    assert os.listdir(tmp_path) == []


def test_the_memory_estimate_is_checked_before_generating(cgan_gen, monkeypatch):
    monkeypatch.setattr("cgan_runtime.budget.memory_limit", lambda: 1000)
    monkeypatch.setattr(cli.Generator, "generate", lambda *a, **k: pytest.fail("generated before the check"))
    result = cgan_gen("--label", 1, "-n", 5, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "MiB of memory, more than the 1,000 bytes allowed")


# Destinations that are not plain files ------------------------------------------------------------


def test_dev_null_is_written_to_and_never_replaced(cgan_gen):
    before = os.stat("/dev/null")
    result = cgan_gen("--label", 1, "-o", "/dev/null", "--model", TINY_MODEL)
    assert result.exit_code == 0 and "wrote /dev/null" in result.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_fifo_receives_the_png_and_stays_a_fifo(cgan_gen, tmp_path):
    os.mkfifo("pipe.png")
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(Path(tmp_path / "pipe.png").read_bytes()))
    reader.start()
    result = cgan_gen("--label", 1, "-o", "pipe.png", "--model", TINY_MODEL)
    reader.join(timeout=30)
    assert result.exit_code == 0
    assert Image.open(io.BytesIO(received[0])).size == (28, 28)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.png").st_mode) and os.listdir(tmp_path) == ["pipe.png"]


def test_a_symlink_output_writes_its_target_and_stays_a_link(cgan_gen, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "out.png").write_bytes(b"old")
    os.symlink("real/out.png", "link.png")
    assert cgan_gen("--label", 1, "-o", "link.png", "--model", TINY_MODEL).exit_code == 0
    assert os.readlink("link.png") == "real/out.png"
    assert Image.open(tmp_path / "real" / "out.png").size == (28, 28)
    assert sorted(os.listdir(tmp_path / "real")) == ["out.png"]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_images_follow_the_umask(cgan_gen, tmp_path, mask, mode):
    previous = os.umask(mask)
    try:
        assert cgan_gen("--label", 1, "-o", "out.png", "--model", TINY_MODEL).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "out.png").st_mode) == mode


# stdout --------------------------------------------------------------------------------------------


def test_closed_stdout_is_one_line_and_exit_1():
    shell = subprocess.run(  # `>&-`: the process starts with no file descriptor 1 at all
        f"{sys.executable} -c 'from cgan_runtime.commands.launch import gen; gen()' --label 1 -o - --model {TINY_MODEL} >&-",
        shell=True, stderr=subprocess.PIPE, timeout=120,
    )
    assert shell.returncode == EXIT_RUNTIME
    assert shell.stderr.decode().splitlines() == ["cgan-gen: error: stdout is closed: pass -o FILE"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_one_line_and_exit_1_never_wrote():
    with open("/dev/full", "wb") as full:
        result = cgan_gen_process("--label", 1, "-o", "-", "--model", TINY_MODEL, stdout=full)
    assert result.returncode == EXIT_RUNTIME
    assert result.stderr.decode().splitlines() == ["cgan-gen: error: cannot write to stdout: No space left on device"]


def test_a_reader_that_stops_early_is_an_error_never_wrote():
    shell = subprocess.run(
        f"{sys.executable} -c 'from cgan_runtime.commands.launch import gen; gen()' --all-labels -n 300 --grid -o - "
        f"--model {TINY_MODEL} | head -c 10 > /dev/null; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, timeout=120,
    )
    assert shell.returncode == EXIT_RUNTIME
    assert shell.stderr.decode().splitlines() == [
        "cgan-gen: error: stdout was closed before the whole PNG was written (broken pipe)"
    ]


# Missing onnxruntime, help text, interrupts ---------------------------------------------------------


def test_without_onnxruntime_cgan_gen_names_the_extra(cgan_gen, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = cgan_gen("--label", 1, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_RUNTIME, "onnxruntime is not installed: pip install '.[cpu]' in the cgan-edge clone")


def test_help_shows_defaults_unmangled(cgan_gen):
    result = cgan_gen("--help")
    text = result.stdout.decode()
    assert result.exit_code == 0
    assert "[default: digits.png]" in " ".join(text.split())
    assert "[default: auto]" in " ".join(text.split())


def test_ctrl_c_during_generation_prints_interrupted_and_exits_130(cgan_gen, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Generator, "generate", interrupted)
    result = cgan_gen("--label", 1, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_INTERRUPTED, "interrupted")


SLOW_IMPORT = """
import sys, time
SLOW = sys.argv.pop(1)
class Slow:  # an import finder that takes a minute over the module SLOW, then lets the others find it
    def find_spec(self, name, path=None, target=None):
        if name == SLOW:
            print("importing", flush=True)
            time.sleep(60)
        return None
sys.meta_path.insert(0, Slow())
from cgan_runtime.commands.launch import gen
gen()
"""


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize(
    "module, args",
    [("cgan_runtime.generator", ["--label", "1"]),  # a plain call's imports
     ("typer", ["--info"])],  # then typer's, for any other call
)
def test_a_signal_during_start_up_imports_is_one_line(sig, code, word, module, args):
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # as at a terminal: under a shell's background job (`pytest &`) the child would start with Ctrl-C ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stdout.readline() == b"importing\n"
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == code
    assert err.decode().splitlines() == [f"cgan-gen: error: {word}"]


# Models whose metadata lies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture", ["nz_float.onnx", "huge_nz.onnx", "fewer_classes.onnx", "image_mismatch.onnx", "nan_weights.onnx"]
)
def test_a_model_whose_metadata_lies_is_one_line_exit_1(cgan_gen, fixture):
    result = cgan_gen("--label", 1, "--model", BAD_MODELS / fixture)
    assert_one_line_error(result, EXIT_RUNTIME, "breaks the cgan-edge generator contract")


# Colour and class names ------------------------------------------------------------------------------


def test_colour_model_writes_rgb_png_by_class_name(cgan_gen, tmp_path):
    result = cgan_gen("--label", "green", "--seed", 4, "-o", "g.png", "--model", COLOUR_MODEL)
    assert result.exit_code == 0, result.stderr
    image = Image.open(tmp_path / "g.png")
    assert (image.mode, image.size) == ("RGB", (8, 8))
    same = cgan_gen("--label", 1, "--seed", 4, "-o", "one.png", "--model", COLOUR_MODEL)
    assert same.exit_code == 0
    np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(tmp_path / "one.png")))


@pytest.mark.parametrize("suffix", ["jpg", "webp"])
def test_colour_model_writes_rgb_jpeg_and_webp(cgan_gen, tmp_path, suffix):
    assert cgan_gen("--all-labels", "--grid", "-n", 2, "-o", f"g.{suffix}", "--model", COLOUR_MODEL).exit_code == 0
    image = Image.open(tmp_path / f"g.{suffix}")
    assert image.mode == "RGB" and image.size == (2 * 10 + 2, 3 * 10 + 2)


def test_colour_grid_has_a_row_per_label_in_rgb(cgan_gen, tmp_path):
    from cgan_runtime import Generator

    result = cgan_gen("--label", "blue,red", "-n", 3, "--grid", "--seed", 2, "-o", "grid.png", "--model", COLOUR_MODEL)
    assert result.exit_code == 0
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2, 3)
    images = Generator(COLOUR_MODEL, provider="cpu").generate(["red"] * 3, seed=2)
    assert images.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(grid[12:20, 22:30], images[2])  # row 1 (red), column 2


def test_info_lists_class_names_and_recipe(cgan_gen):
    lines = cgan_gen("--info", "--model", COLOUR_MODEL).stdout.decode().splitlines()
    assert "classes: 0=red, 1=green, 2=blue" in lines
    assert "recipe: colour-fixture-recipe" in lines
    assert "image_shape: [3, 8, 8]" in lines


def test_the_recipe_travels_in_the_metadata_only_when_known():
    from cgan_runtime.contract import KEY_RECIPE, ModelSpec, Provenance, to_metadata

    assert to_metadata(ModelSpec(), Provenance(recipe="edge"))[KEY_RECIPE] == "edge"
    assert KEY_RECIPE not in to_metadata(ModelSpec(), Provenance())


def test_an_unknown_class_name_lists_the_classes(cgan_gen, tmp_path):
    result = cgan_gen("--label", "purple", "--model", COLOUR_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "unknown class 'purple': the classes are red, green, blue")
    assert os.listdir(tmp_path) == []


def test_run_app_shows_help_text_as_written_for_every_command(run_cli):
    import typer

    from cgan_runtime.commands.errors import run_app

    app = typer.Typer(add_completion=False)

    @app.command()
    def command(loss: str = typer.Option("x", help="bce or hinge [default: the recipe's].")) -> None:
        """A command."""

    result = run_cli(lambda: run_app(app, "demo"), "demo", "--help")
    assert result.exit_code == 0
    assert "bce or hinge [default: the recipe's]." in " ".join(result.stdout.decode().split())


def test_many_files_are_generated_in_batches_with_the_same_images(cgan_gen, generator, tmp_path, monkeypatch):
    monkeypatch.setattr(gen_shared, "FILE_BATCH", 3)
    assert cgan_gen("--label", "0,7", "-n", 4, "--seed", 5, "-o", "d.png", "--model", TINY_MODEL).exit_code == 0
    expected = generator.generate([0] * 4 + [7] * 4, seed=5)
    names = [f"d_{label}_{index}.png" for label in (0, 7) for index in range(4)]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    for name, image in zip(names, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)), image)


def test_memory_stays_flat_when_writing_ten_times_more_files(cgan_gen, tmp_path, monkeypatch):
    import tracemalloc

    monkeypatch.setattr(gen_shared, "FILE_BATCH", 5)

    def peak(count: int) -> int:
        folder = tmp_path / str(count)
        folder.mkdir()
        tracemalloc.start()
        try:
            assert cgan_gen("--label", 1, "-n", count, "-o", folder / "d.png", "--model", TINY_MODEL).exit_code == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    few, many = peak(15), peak(150)
    assert many < 2 * few  # all at once, ten times the images took about ten times the memory


def test_sigterm_mid_write_leaves_no_temp_file_and_the_old_image(cgan_gen, tmp_path, monkeypatch):
    (tmp_path / "out.png").write_bytes(b"old")

    def terminated_while_syncing(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # cgan-gen's handler raises here, inside the atomic write

    monkeypatch.setattr("cgan_runtime.files.os.fsync", terminated_while_syncing)
    previous = signal.getsignal(signal.SIGTERM)
    result = cgan_gen("--label", 1, "-o", "out.png", "--model", TINY_MODEL)
    assert_one_line_error(result, 143, "terminated")
    assert os.listdir(tmp_path) == ["out.png"] and (tmp_path / "out.png").read_bytes() == b"old"
    assert signal.getsignal(signal.SIGTERM) is previous  # the command put the old handler back


@pytest.mark.parametrize(
    "error, line",
    [
        (PermissionError(13, "Permission denied", "runs/x"), "demo: error: runs/x: Permission denied"),
        (OSError(28, "No space left on device"), "demo: error: No space left on device"),
        (FileNotFoundError("cannot write a/b.png: no directory a"), "demo: error: cannot write a/b.png: no directory a"),
    ],
)
def test_run_app_turns_any_os_error_into_one_line_exit_1(run_cli, error, line):
    import typer

    from cgan_runtime.commands.errors import run_app

    app = typer.Typer(add_completion=False)

    @app.command()
    def command() -> None:
        raise error

    result = run_cli(lambda: run_app(app, "demo"), "demo")
    assert (result.exit_code, result.stderr_lines) == (EXIT_RUNTIME, [line])


# Round two: resources, odd destinations, class names --------------------------------------------------


def test_the_noise_of_many_files_is_drawn_batch_by_batch(cgan_gen, generator, tmp_path, monkeypatch):
    """-n 10000000 once drew all ten million images' noise before the first batch (23 GB)."""
    drawn = []
    draw = gen_shared.noise_for_labels
    monkeypatch.setattr(gen_shared, "noise_for_labels", lambda labels, *args, **kwargs: drawn.append(len(labels)) or draw(labels, *args, **kwargs))
    monkeypatch.setattr(gen_shared, "FILE_BATCH", 4)
    assert cgan_gen("--label", "0,7", "-n", 5, "--seed", 5, "-o", "d.png", "--model", TINY_MODEL).exit_code == 0
    assert max(drawn) <= 4 and sum(drawn) == 10
    for label in (0, 7):  # each label's occurrences carry on across batches: the images of one request
        expected = generator.generate([label] * 5, seed=5)
        got = [np.asarray(Image.open(tmp_path / f"d_{label}_{index}.png")) for index in range(5)]
        np.testing.assert_array_equal(np.stack(got), expected)


@pytest.mark.parametrize(
    "args",
    [
        ["--morph", "c0:c1", "--frames", 4000, "-o", "m.gif"],
        ["--mix", "c0=0.5,c1=0.5", "-n", 4000, "--grid", "-o", "g.png"],
    ],
    ids=["morph", "mix-grid"],
)
def test_class_weights_count_in_the_memory_budget(cgan_gen, monkeypatch, args):
    """1,000 classes of 4x4 images: 4,000 frames' weights take 128 MB, their pixels 1 MB."""
    monkeypatch.setattr("cgan_runtime.budget.memory_limit", lambda: 64 << 20)
    monkeypatch.setattr(cli.Generator, "_run", lambda *a, **k: pytest.fail("generated before the check"))
    result = cgan_gen(*args, "--model", MANY_CLASSES_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "MiB of memory, more than the 64.0 MiB allowed")


def test_mixed_files_draw_their_weights_batch_by_batch(cgan_gen, monkeypatch, tmp_path):
    sizes = []
    run = cli.Generator._run
    monkeypatch.setattr(cli.Generator, "_run", lambda self, labels, *a, **k: sizes.append(len(labels)) or run(self, labels, *a, **k))
    monkeypatch.setattr(gen_shared, "FILE_BATCH", 3)
    assert cgan_gen("--mix", "3=0.5,8=0.5", "-n", 7, "--seed", 1, "--model", TINY_MIXING_MODEL).exit_code == 0
    assert sizes == [3, 3, 1] and len(os.listdir(tmp_path)) == 7


def test_numbered_files_beside_a_device_are_refused(cgan_gen):
    """`-o /dev/null -n 2` once wrote the regular files /dev/null_3_0 and /dev/null_3_1."""
    existed = os.path.exists(f"{os.devnull}_3_0")
    result = cgan_gen("--label", 3, "-n", 2, "-o", os.devnull, "--model", TINY_MODEL)
    assert_one_line_error(result, EXIT_USAGE, "-o /dev/null is not a regular file, and 2 images go to numbered files")
    assert os.path.exists(f"{os.devnull}_3_0") == existed


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="needs /dev/stdout")
def test_dev_stdout_into_a_pipe_is_written_through(generator):
    """It once tried to make a temp file in /proc/PID/fd, beside the pipe /dev/stdout points at."""
    result = cgan_gen_process("--label", 3, "--seed", 2, "-o", "/dev/stdout", "--model", TINY_MODEL, stdout=subprocess.PIPE)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(result.stdout))), generator.generate([3], seed=2)[0])


def test_info_with_stdout_closed_is_one_line_and_exit_1():
    shell = subprocess.run(
        f"{sys.executable} -c 'from cgan_runtime.commands.launch import gen; gen()' --info --model {TINY_MODEL} >&-",
        shell=True, stderr=subprocess.PIPE, timeout=120,
    )
    assert shell.returncode == EXIT_RUNTIME
    assert shell.stderr.decode().splitlines() == ["cgan-gen: error: stdout is closed: nowhere to print --info"]


def test_class_names_from_the_file_reach_the_terminal_escaped(cgan_gen):
    info = cgan_gen("--info", "--model", ODD_NAMES_MODEL)
    assert info.exit_code == 0, info.stderr
    assert b"\x1b" not in info.stdout and b"\x07" not in info.stdout
    assert "1=\\x1b]0;owned\\x07\\x1b[2J" in info.stdout.decode()
    unknown = cgan_gen("--label", "nope", "-o", "x.png", "--model", ODD_NAMES_MODEL)
    assert unknown.exit_code == EXIT_USAGE and "\x1b" not in unknown.stderr and "\\x1b" in unknown.stderr


def test_class_names_the_command_line_cannot_spell_are_named_at_load(cgan_gen):
    result = cgan_gen("--label", 0, "-o", "x.png", "--model", ODD_NAMES_MODEL)
    assert result.exit_code == 0, result.stderr
    (warning,) = [line for line in result.stderr_lines if "warning" in line]
    assert "2='a,b', 3=' padded '" in warning and "give their index" in warning


def test_a_class_named_with_a_number_is_chosen_by_that_name_and_a_number_alone_is_an_index(cgan_gen, tmp_path):
    """Classes 0..10 sort as 0, 1, 10, 2, ...: `--label 2` once drew index 2, the class named "10"."""
    generator = cli.Generator(NUMBERED_MODEL, provider="cpu", threads=1)
    assert generator.class_names[2:4] == ("10", "2")
    for args in (["--label", "2"], ["--mix", "2=1"]):
        assert cgan_gen(*args, "--seed", 3, "-o", "x.png", "--model", NUMBERED_MODEL).exit_code == 0
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), generator.generate(["2"], seed=3)[0])
    # A number no class is named is an index: there is no class "11", so 11 is out of range.
    assert_one_line_error(cgan_gen("--label", "11", "-o", "x.png", "--model", NUMBERED_MODEL), EXIT_USAGE, "label 11 is out of range")
