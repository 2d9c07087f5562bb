"""`cgan-gen`: write images drawn by a cgan-edge generator.

Thin on purpose: parse, check what can be checked before the model loads
(labels, seed, threads, the output's format and folder, what the request
will cost), then let `Generator` and `images` do the work. Each file is
encoded and written in turn, atomically.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer

from .animation import DEFAULT_FPS, DEFAULT_FRAMES, MAX_FPS
from .arguments import parse_labels
from .budget import check_disk, check_memory, check_picture, request_bytes
from .contract import KEY_RECIPE
from .errors import EXIT_USAGE, UserError, printable, run_app
from .files import check_writable, write_output
from .generator import Generator
from .images import FORMATS, GRID_PADDING, encode, format_for, make_grid, scale
from .inputs import as_labels, check_seed, check_threads, new_seed
from .loading import load_generator
from .noise import noise_for_labels
from .providers import PROVIDERS

T = TypeVar("T")
PROG = "cgan-gen"
STDOUT = "-"
PADDING = GRID_PADDING  # between and around the cells of a grid
ANIMATION_ONLY = "--frames, --fps and --loop are for --morph and --walk"
FILE_BATCH = 256  # images generated at a time when each goes to its own file: memory stays flat


@dataclass(frozen=True)
class Frames:
    """--frames, --fps and --loop as given; None where the user left them out."""

    count: int | None
    fps: int | None
    loop: bool | None

    def given(self) -> bool:
        return self.count is not None or self.fps is not None or self.loop is not None


app = typer.Typer(add_completion=False, help="Generate images with a cgan-edge ONNX generator.")


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.command()
def cgan_gen(
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            metavar="LABEL[,LABEL...]",
            help="Class to draw, by index or name (see --info); repeat it or comma-separate: 0,7.",
        ),
    ] = None,
    all_labels: Annotated[bool, typer.Option("--all-labels", help="Draw every class the model knows.")] = False,
    count: Annotated[int, typer.Option("--count", "-n", min=1, metavar="N", help="Images per label.")] = 1,
    seed: Annotated[
        int | None, typer.Option(min=0, metavar="N", help="Same seed, same images. Random (and printed) when omitted.")
    ] = None,
    grid: Annotated[bool, typer.Option("--grid", help="One picture: a row per label, COUNT columns.")] = False,
    scale_factor: Annotated[
        int, typer.Option("--scale", min=1, metavar="K", help="Enlarge K times, nearest neighbour.")
    ] = 1,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help=f"Image to write ({', '.join(FORMATS)}: the suffix picks the format), '-' for PNG on stdout. "
            "Several images go to STEM_LABEL_INDEX.SUFFIX beside it.",
        ),
    ] = "digits.png",
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Generator .onnx file (default: the one shipped with the package)."),
    ] = None,
    provider: Annotated[str, typer.Option(metavar="NAME", help=f"Execution provider: {', '.join(PROVIDERS)}.")] = "auto",
    threads: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="onnxruntime threads, at most 4 per core (default: all cores).")
    ] = None,
    info: Annotated[
        bool, typer.Option("--info", help="Print the model's spec, classes, recipe, metadata and providers.")
    ] = False,
    mix: Annotated[
        str | None, typer.Option(metavar="C=W[,C=W...]", help="Draw a mix of classes: 3=0.7,8=0.3 (weights sum to 1).")
    ] = None,
    morph: Annotated[
        str | None, typer.Option(metavar="FROM:TO", help="Animate one digit changing class: 3:8 (.gif/.webp, or --grid).")
    ] = None,
    walk: Annotated[
        str | None, typer.Option(metavar="LABEL", help="Animate one label's handwriting changing (.gif/.webp, or --grid).")
    ] = None,
    frames: Annotated[int | None, typer.Option(metavar="N", help=f"Frames of --morph / --walk (default {DEFAULT_FRAMES}).")] = None,
    fps: Annotated[int | None, typer.Option(metavar="N", help=f"Frames per second of the animation, 1 to {MAX_FPS} (default {DEFAULT_FPS}).")] = None,
    loop: Annotated[
        bool | None, typer.Option("--loop/--no-loop", help="Play the animation forever (the default), or once.")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Write a labelled training set: a folder DIR/CLASS/CLASS_J.png with "
                     "DIR/manifest.csv, or one .npz file. Run again with the same options to finish an interrupted set."),
    ] = None,
    per_label: Annotated[int | None, typer.Option(min=1, metavar="N", help="Images of each label in --dataset.")] = None,
    dataset_format: Annotated[
        str | None, typer.Option("--format", metavar="png|npz", help="--dataset's format (default: npz for a PATH ending in .npz, else png).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Draw images of the given labels and write them as PNG, JPEG or WebP."""
    if provider not in PROVIDERS:
        raise UserError(f"--provider must be one of {', '.join(PROVIDERS)}, got {provider!r}", EXIT_USAGE)
    animation = Frames(frames, fps, loop)
    if dataset is not None or per_label is not None or dataset_format is not None:
        from .cli_dataset import run_dataset  # here: it imports this module's helpers

        given = (("--count", count != 1), ("--grid", grid), ("--output", output != "digits.png"), ("--info", info),
                 ("--mix", mix is not None), ("--morph", morph is not None), ("--walk", walk is not None),
                 ("--frames/--fps/--loop", animation.given()))
        run_dataset(
            dataset, per_label, dataset_format, label=label, all_labels=all_labels, seed=seed,
            scale_factor=scale_factor, model=model, provider=provider, threads=threads,
            not_for_dataset=[flag for flag, present in given if present],
        )
        return
    if mix is not None or morph is not None or walk is not None:
        from .cli_mixing import parse_condition, run_condition  # here: it imports this module's helpers

        condition = parse_condition(mix, morph, walk)
        if label or all_labels or info:
            raise UserError(f"--{condition.kind} replaces --label, --all-labels and --info", EXIT_USAGE)
        run_condition(
            condition, animation, count=count, seed=seed, grid=grid, scale_factor=scale_factor,
            output=output, model=model, provider=provider, threads=threads,
        )
        return
    if animation.given():
        raise UserError(ANIMATION_ONLY, EXIT_USAGE)
    tokens = _parse_labels(label or [])
    if threads is not None:
        _usage(check_threads, threads, prefix="--")
    if seed is not None:
        _usage(check_seed, seed, prefix="--")
    image_format = "PNG"
    if not info:
        if tokens and all_labels:
            raise UserError("pass --label or --all-labels, not both", EXIT_USAGE)
        if not tokens and not all_labels:
            raise UserError("no label given: pass --label N (repeatable, or 0,7) or --all-labels", EXIT_USAGE)
        _check_destination(output)
        image_format = _output_format(output)

    generator = _load(model, provider, threads)
    if info:
        _print_info(generator)
        return

    if all_labels:
        labels = np.arange(generator.num_classes)
    else:
        labels = _usage(as_labels, tokens, generator.num_classes, generator.class_names)
    if output == STDOUT and not grid and len(labels) * count > 1:
        raise UserError("-o - writes a single PNG: ask for one image or add --grid", EXIT_USAGE)
    _check_budget(generator, len(labels), count, grid, scale_factor, image_format, output)

    seed = new_seed() if seed is None else seed
    request = np.repeat(labels, count)  # grouped by label, so a grid row is one label
    if grid or len(request) == 1:
        images = generator.generate(request, seed)
        picture = make_grid(images, cols=count, padding=PADDING) if grid else images[0]
        written = _write_one(output, encode(scale(picture, scale_factor), image_format))
    else:
        written = _write_many(Path(output), generator, request, seed, scale_factor, image_format)
    _note(f"wrote {written} (seed {seed}, {generator.providers[0]})")


def _usage(check: Callable[..., T], *args: Any, prefix: str = "") -> T:
    """`check(*args)`, its ValueError a usage error (exit 2)."""
    try:
        return check(*args)
    except ValueError as exc:
        raise UserError(f"{prefix}{exc}", EXIT_USAGE) from None


def _parse_labels(values: list[str]) -> list[str]:
    """'--label 0 --label 7,cat' -> ['0', '7', 'cat'], each resolved by the model (`inputs.as_labels`)."""
    return _usage(parse_labels, values)


def _check_destination(output: str) -> None:
    """Fail before generating when the output cannot be written at all."""
    if output == STDOUT:
        if sys.stdout is None:
            raise UserError("stdout is closed: pass -o FILE")
        if sys.stdout.isatty():
            raise UserError("refusing to write PNG data to a terminal: redirect stdout or pass -o FILE", EXIT_USAGE)
        return
    try:
        check_writable(output)
    except OSError as exc:
        raise UserError(str(exc)) from None


def _output_format(output: str) -> str:
    """The format the output's suffix names; PNG for stdout and for devices and FIFOs, which have no suffix to go by."""
    if output == STDOUT or (os.path.exists(output) and not os.path.isfile(output)):
        return "PNG"
    return _usage(format_for, output)


def _check_budget(
    generator: Generator, labels: int, count: int, grid: bool, factor: int, image_format: str, output: str,
    classes: int = 0,
) -> None:
    """Refuse (exit 2), before allocating, a picture too large for its format or a request too large for memory
    or, when each image gets its own file, for the disk; `classes` is the weights per image of a mix."""
    channels, height, width = generator.image_shape
    if grid:
        height, width = labels * (height + PADDING) + PADDING, count * (width + PADDING) + PADDING
    height, width = height * factor, width * factor
    _usage(check_picture, height, width, image_format)
    images = labels * count
    at_once = images if grid else min(images, FILE_BATCH)
    picture_bytes = height * width * channels
    _usage(check_memory, request_bytes(images, at_once, generator.nz, generator.image_shape, picture_bytes, classes))
    if not grid and images > 1:
        _check_numbered(output, images)
        _usage(check_disk, Path(output).parent, images, picture_bytes)


def _check_numbered(output: str, images: int) -> None:
    """Numbered files go beside `output`: that makes sense only for a file name, not a device or FIFO."""
    if os.path.exists(output) and not os.path.isfile(output):
        raise UserError(
            f"-o {output} is not a regular file, and {images:,} images go to numbered files beside it "
            "(STEM_LABEL_INDEX.SUFFIX): name a file, or add --grid for one picture",
            EXIT_USAGE,
        )


def _load(model: Path | None, provider: str, threads: int | None) -> Generator:
    return load_generator(model, provider, threads, _note)


def _write_one(output: str, data: bytes) -> str:
    """Write one encoded picture to `output` (a file, or stdout for '-'); return what was written, for the user."""
    if output == STDOUT:
        _write_stdout(data)
        return "PNG to stdout"
    _write_file(output, data)
    return output


def _write_many(
    output: Path, generator: Generator, request: np.ndarray, seed: int, factor: int, image_format: str,
    weights: np.ndarray | None = None,
) -> str:
    """One file per image, STEM_LABEL_INDEX.SUFFIX, generated FILE_BATCH at a time; return what was written.

    With class `weights` [1, num_classes], every image's (a --mix), `request` is their heaviest class: the
    noise and the file names follow it, as `Generator.generate_mixed` does. Each batch's noise (and
    weights) is drawn with it, continuing each label's occurrences, so memory stays flat whatever N.
    """
    names = _numbered_paths(output, request, generator.class_names)
    drawn: Counter[int] = Counter()  # each label's noise rows taken so far
    first = last = None
    for start in range(0, len(request), FILE_BATCH):
        labels = request[start : start + FILE_BATCH]
        noise = noise_for_labels(labels, generator.nz, seed, first_occurrence=drawn)
        drawn.update(labels.tolist())
        if weights is None:
            images = generator.generate(labels, noise=noise)
        else:
            images = generator.generate_mixed(np.repeat(weights, len(labels), axis=0), noise=noise)
        for image, path in zip(images, names):
            _write_file(path, encode(scale(image, factor), image_format))
            first, last = first or path, path
    pattern = output.with_name(f"{output.stem}_LABEL_INDEX{output.suffix}")
    return f"{len(request)} images as {pattern}, {first.name} to {last.name}"


def _write_file(path: str | Path, data: bytes) -> None:
    try:
        write_output(path, data)
    except OSError as exc:
        raise UserError(str(exc)) from None


def _write_stdout(data: bytes, what: str = "PNG") -> None:
    """All of `data` to stdout, or a UserError: a short or failed write is never reported as written.

    os.write in a loop, not sys.stdout.buffer: when a pipe's reader leaves mid-write
    (`| head -c 10`) the kernel reports a short write, which the buffered writer let
    pass silently; the next os.write then fails with EPIPE.
    """
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        # The unwritten bytes stay buffered and Python would fail again flushing them at exit,
        # with a second message: point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if isinstance(exc, BrokenPipeError):
            raise UserError(f"stdout was closed before the whole {what} was written (broken pipe)") from None
        raise UserError(f"cannot write to stdout: {exc.strerror or exc}") from None


def _numbered_paths(output: Path, request: np.ndarray, class_names: Sequence[str]) -> Iterator[Path]:
    """STEM_LABEL_INDEX.SUFFIX per image, lazily; INDEX is the image's occurrence of its label, as in the noise rule.

    LABEL is the class's name (`flags`, `7`) where it is a plain file-name word, else its index.
    """
    seen: Counter[int] = Counter()
    for label in map(int, request):
        name = class_names[label] if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", class_names[label]) else label
        yield output.with_name(f"{output.stem}_{name}_{seen[label]}{output.suffix}")
        seen[label] += 1


def _print_info(generator: Generator) -> None:
    """The model's description on stdout; text from the file is escaped (it may hold terminal control codes)."""
    if sys.stdout is None:
        raise UserError("stdout is closed: nowhere to print --info")
    lines = [
        f"model: {generator.path}",
        f"providers: {', '.join(generator.providers)}",
        f"recipe: {generator.metadata.get(KEY_RECIPE) or 'unknown'}",
        *(f"{key}: {value if isinstance(value, str) else json.dumps(value)}"
          for key, value in generator.spec.to_dict().items()),
        f"classes: {', '.join(f'{index}={name}' for index, name in enumerate(generator.class_names))}",
        *(f"metadata {key}: {value}" for key, value in sorted(generator.metadata.items())),
    ]
    _write_stdout("".join(f"{printable(line)}\n" for line in lines).encode(), "description")


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main() -> None:
    run_app(app, PROG)


if __name__ == "__main__":
    main()
