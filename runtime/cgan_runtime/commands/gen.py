"""`cgan-gen`: write images drawn by a cgan-edge generator; its options, help and modes, through typer.

Thin on purpose: parse, check what can be checked before the model loads
(labels, seed, threads, the output's format and folder, what the request
will cost), then let `Generator` and `images` do the work. Each file is
encoded and written in turn, atomically. A plain call (`--label 5 -o x.png`)
skips typer: `gen_plain` reads it and hands it to the same `draw_labels`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..animation import DEFAULT_FPS, DEFAULT_FRAMES, MAX_FPS
from ..contract import KEY_RECIPE
from ..generator import Generator
from ..images import FORMATS
from ..inputs import SEED_LIMIT
from ..providers import PROVIDERS
from .errors import EXIT_USAGE, UserError, printable, run_app
from .gen_labels import DEFAULTS, LabelsRequest, draw_labels
from .gen_shared import ANIMATION_ONLY, PROG, Frames, check_seed_and_threads, load
from .output import write_stdout


app = typer.Typer(add_completion=False, help="Generate images with a cgan-edge ONNX generator.")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

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
    ] = DEFAULTS.label,
    all_labels: Annotated[bool, typer.Option("--all-labels", help="Draw every class the model knows.")] = DEFAULTS.all_labels,
    count: Annotated[int, typer.Option("--count", "-n", min=1, metavar="N", help="Images per label.")] = DEFAULTS.count,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=SEED_LIMIT - 1, metavar="N", help="Same seed, same images.", show_default="random, printed"),
    ] = DEFAULTS.seed,
    grid: Annotated[bool, typer.Option("--grid", help="One picture: a row per label, COUNT columns.")] = DEFAULTS.grid,
    scale_factor: Annotated[
        int, typer.Option("--scale", min=1, metavar="K", help="Enlarge K times, nearest neighbour.")
    ] = DEFAULTS.scale_factor,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help=f"Image to write ({', '.join(FORMATS)}: the suffix picks the format), '-' for PNG on stdout. "
            "Several images go to STEM_LABEL_INDEX.SUFFIX beside it.",
        ),
    ] = DEFAULTS.output,
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Generator .onnx file.", show_default="the one shipped with the package"),
    ] = DEFAULTS.model,
    provider: Annotated[str, typer.Option(metavar="|".join(PROVIDERS), help="onnxruntime's execution provider.")] = DEFAULTS.provider,
    threads: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="onnxruntime threads, at most 4 per core.", show_default="all cores"),
    ] = DEFAULTS.threads,
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
    frames: Annotated[
        int | None, typer.Option(min=2, metavar="N", help="Frames of --morph / --walk.", show_default=str(DEFAULT_FRAMES))
    ] = None,
    fps: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_FPS, metavar="N", help="Frames per second of the animation.", show_default=str(DEFAULT_FPS)),
    ] = None,
    loop: Annotated[
        bool | None, typer.Option("--loop/--no-loop", help="Play the animation forever, or once.", show_default="loop")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Write a labelled training set: a folder DIR/CLASS/CLASS_J.png with "
                     "DIR/manifest.csv, or one .npz file. Run again with the same options to finish an interrupted set."),
    ] = None,
    per_label: Annotated[int | None, typer.Option(min=1, metavar="N", help="Images of each label in --dataset.")] = None,
    dataset_format: Annotated[
        str | None,
        typer.Option("--format", metavar="png|npz", help="--dataset's format.", show_default="npz for a PATH ending in .npz, else png"),
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
        from .gen_dataset import run_dataset  # here: only this mode needs it

        given = (("--count", count != DEFAULTS.count), ("--grid", grid), ("--output", output != DEFAULTS.output), ("--info", info),
                 ("--mix", mix is not None), ("--morph", morph is not None), ("--walk", walk is not None),
                 ("--frames/--fps/--loop", animation.given()))
        run_dataset(
            dataset, per_label, dataset_format, label=label, all_labels=all_labels, seed=seed,
            scale_factor=scale_factor, model=model, provider=provider, threads=threads,
            not_for_dataset=[flag for flag, present in given if present],
        )
    elif mix is not None or morph is not None or walk is not None:
        from .gen_conditions import parse_condition, run_condition  # here: only these modes need it

        condition = parse_condition(mix, morph, walk)
        if label or all_labels or info:
            raise UserError(f"--{condition.kind} replaces --label, --all-labels and --info", EXIT_USAGE)
        run_condition(
            condition, animation, count=count, seed=seed, grid=grid, scale_factor=scale_factor,
            output=output, model=model, provider=provider, threads=threads,
        )
    elif animation.given():
        raise UserError(ANIMATION_ONLY, EXIT_USAGE)
    elif info:
        check_seed_and_threads(seed, threads)
        _print_info(load(model, provider, threads))
    else:
        draw_labels(LabelsRequest(
            label=label, all_labels=all_labels, count=count, seed=seed, grid=grid, scale_factor=scale_factor,
            output=output, model=model, provider=provider, threads=threads,
        ))


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
    write_stdout("".join(f"{printable(line)}\n" for line in lines).encode(), "description")


def main() -> None:
    run_app(app, PROG)


if __name__ == "__main__":
    main()
