"""`cgan-gen`'s plain mode: COUNT images of each label, to one file, numbered files or one grid.

No typer here: a plain call is read without it (`gen_plain`), and `gen` passes
this mode what typer read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..images import encode, make_grid, scale
from ..inputs import as_labels, new_seed
from .errors import EXIT_USAGE, UserError, usage
from .gen_shared import check_budget, check_seed_and_threads, label_tokens, load, note, output_format, write_many
from .output import STDOUT, check_destination, write_one


@dataclass(frozen=True)
class LabelsRequest:
    """The options of a plain call, named as `gen.cgan_gen` names them; the defaults are cgan-gen's own
    (its typer options take them from here)."""

    label: list[str] | None = None
    all_labels: bool = False
    count: int = 1
    seed: int | None = None
    grid: bool = False
    scale_factor: int = 1
    output: str = "digits.png"
    model: Path | None = None
    provider: str = "auto"
    threads: int | None = None


DEFAULTS = LabelsRequest()


def draw_labels(request: LabelsRequest) -> None:
    """COUNT images of each label: one file, numbered files, or one grid."""
    tokens = label_tokens(request.label, request.all_labels)
    check_seed_and_threads(request.seed, request.threads)
    output, count, grid, factor = request.output, request.count, request.grid, request.scale_factor
    check_destination(output)
    image_format = output_format(output)

    generator = load(request.model, request.provider, request.threads)
    labels = np.arange(generator.num_classes) if request.all_labels else \
        usage(as_labels, tokens, generator.num_classes, generator.class_names)
    if output == STDOUT and not grid and len(labels) * count > 1:
        raise UserError("-o - writes a single PNG: ask for one image or add --grid", EXIT_USAGE)
    check_budget(generator, len(labels), count, grid, factor, image_format, output)

    seed = new_seed() if request.seed is None else request.seed
    per_image = np.repeat(labels, count)  # each image's label, grouped: a grid row is one label
    if grid or len(per_image) == 1:
        images = generator.generate(per_image, seed)
        picture = make_grid(images, cols=count) if grid else images[0]
        written = write_one(output, encode(scale(picture, factor), image_format))
    else:
        written = write_many(Path(output), generator, per_image, seed, factor, image_format)
    note(f"wrote {written} (seed {seed}, {generator.providers[0]})")
