"""`cgan-gen`: write digit PNGs drawn by a cgan-edge generator.

Thin on purpose: parse, check what can be checked before the model loads,
then let `Generator` and `images` do the work. Every file is encoded before
the first is written, and each is written atomically.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .animation import DEFAULT_FPS, DEFAULT_FRAMES, MAX_FPS
from .errors import EXIT_USAGE, UserError, run_app
from .files import check_writable, write_output
from .generator import Generator
from .images import encode_png, make_grid, scale
from .inputs import as_labels, new_seed
from .providers import PROVIDERS

PROG = "cgan-gen"
STDOUT = "-"

app = typer.Typer(add_completion=False, help="Generate handwritten digits with a cgan-edge ONNX generator.")


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit()


@app.command()
def cgan_gen(
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", metavar="N[,N...]", help="Class to draw; repeat it or comma-separate: 0,7."),
    ] = None,
    all_labels: Annotated[bool, typer.Option("--all-labels", help="Draw every class the model knows.")] = False,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Images per label.")] = 1,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Same seed, same digits. Random (and printed) when omitted.")
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
            help="PNG to write, '-' for stdout. Several images go to STEM_LABEL_INDEX.png beside it.",
        ),
    ] = "digits.png",
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Generator .onnx file (default: the one shipped with the package)."),
    ] = None,
    provider: Annotated[str, typer.Option(help=f"Execution provider: {', '.join(PROVIDERS)}.")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="onnxruntime threads (default: all cores).")] = None,
    info: Annotated[
        bool, typer.Option("--info", help="Print the model's spec, metadata and providers; no images.")
    ] = False,
    mix: Annotated[
        str | None, typer.Option(metavar="C=W[,C=W...]", help="Draw a mix of classes: 3=0.7,8=0.3 (weights sum to 1).")
    ] = None,
    morph: Annotated[
        str | None, typer.Option(metavar="FROM:TO", help="Animate one digit changing class: 3:8 (.gif/.webp, or --grid).")
    ] = None,
    walk: Annotated[
        int | None, typer.Option(metavar="LABEL", help="Animate one label's handwriting changing (.gif/.webp, or --grid).")
    ] = None,
    frames: Annotated[int | None, typer.Option(metavar="N", help=f"Frames of --morph / --walk (default {DEFAULT_FRAMES}).")] = None,
    fps: Annotated[int | None, typer.Option(metavar="N", help=f"Frames per second of the animation, 1 to {MAX_FPS} (default {DEFAULT_FPS}).")] = None,
    loop: Annotated[bool, typer.Option("--loop/--no-loop", help="Play the animation forever, or once.")] = True,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Draw digits of the given labels and write them as PNG."""
    if provider not in PROVIDERS:
        raise UserError(f"--provider must be one of {', '.join(PROVIDERS)}, got {provider!r}", EXIT_USAGE)
    if mix is not None or morph is not None or walk is not None:
        from .cli_mixing import Frames, parse_condition, run_condition  # here: it imports this module's helpers

        condition = parse_condition(mix, morph, walk)
        if label or all_labels or info:
            raise UserError(f"--{condition.kind} replaces --label, --all-labels and --info", EXIT_USAGE)
        run_condition(
            condition, Frames(frames, fps, loop), count=count, seed=seed, grid=grid, scale_factor=scale_factor,
            output=output, model=model, provider=provider, threads=threads,
        )
        return
    if frames is not None or fps is not None:
        raise UserError("--frames and --fps are for --morph and --walk", EXIT_USAGE)
    tokens = _parse_labels(label or [])
    if not info:
        if tokens and all_labels:
            raise UserError("pass --label or --all-labels, not both", EXIT_USAGE)
        if not tokens and not all_labels:
            raise UserError("no label given: pass --label N (repeatable, or 0,7) or --all-labels", EXIT_USAGE)
        _check_destination(output)

    generator = _load(model, provider, threads)
    if info:
        _print_info(generator)
        return

    try:
        labels = np.arange(generator.num_classes) if all_labels else as_labels(tokens, generator.num_classes)
    except ValueError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    if output == STDOUT and not grid and len(labels) * count > 1:
        raise UserError("-o - writes a single PNG: ask for one image or add --grid", EXIT_USAGE)

    seed = new_seed() if seed is None else seed
    request = np.repeat(labels, count)  # grouped by label, so a grid row is one label
    images = generator.generate(request, seed)
    pictures = [make_grid(images, cols=count)] if grid else list(images)
    pngs = [encode_png(scale(picture, scale_factor)) for picture in pictures]

    written = _write_outputs(output, pngs, request)
    _note(f"wrote {written} (seed {seed}, {generator.providers[0]})")


def _parse_labels(values: list[str]) -> list[int]:
    """'--label 0 --label 7,8' -> [0, 7, 8]; the range is checked once the model says how many classes."""
    labels = []
    for token in (token.strip() for value in values for token in value.split(",")):
        try:
            labels.append(int(token))
        except ValueError:
            raise UserError(f"--label takes integers, got {token!r}", EXIT_USAGE) from None
    return labels


def _check_destination(output: str) -> None:
    """Fail before generating when the output cannot be written at all."""
    if output == STDOUT:
        if sys.stdout.isatty():
            raise UserError("refusing to write PNG data to a terminal: redirect stdout or pass -o FILE", EXIT_USAGE)
        return
    check_writable(output)


def _load(model: Path | None, provider: str, threads: int | None) -> Generator:
    """The Generator, with its load errors as one-line UserErrors and its warnings as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            generator = Generator(model, provider=provider, threads=threads)
        except (OSError, ValueError, RuntimeError) as exc:
            raise UserError(str(exc)) from None
    for warning in caught:
        _note(f"warning: {warning.message}")
    return generator


def _write_outputs(output: str, pngs: list[bytes], request: np.ndarray) -> str:
    """Write every PNG where `output` says; return what was written, for the user."""
    if output == STDOUT:
        sys.stdout.buffer.write(pngs[0])
        sys.stdout.buffer.flush()
        return "PNG to stdout"
    if len(pngs) == 1:
        write_output(output, pngs[0])
        return output
    paths = _numbered_paths(Path(output), request)
    for path, png in zip(paths, pngs, strict=True):
        write_output(path, png)
    pattern = Path(output).with_name(f"{Path(output).stem}_LABEL_INDEX.png")
    return f"{len(paths)} images as {pattern}, {paths[0].name} to {paths[-1].name}"


def _numbered_paths(output: Path, request: np.ndarray) -> list[Path]:
    """STEM_LABEL_INDEX.png per image; INDEX is the image's occurrence of its label, as in the noise rule."""
    seen: Counter[int] = Counter()
    paths = []
    for label in request.tolist():
        paths.append(output.with_name(f"{output.stem}_{label}_{seen[label]}.png"))
        seen[label] += 1
    return paths


def _print_info(generator: Generator) -> None:
    typer.echo(f"model: {generator.path}")
    typer.echo(f"providers: {', '.join(generator.providers)}")
    for key, value in generator.spec.to_dict().items():
        typer.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    for key, value in sorted(generator.metadata.items()):
        typer.echo(f"metadata {key}: {value}")


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def main() -> None:
    run_app(app, PROG)


if __name__ == "__main__":
    main()
