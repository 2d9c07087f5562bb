"""What `cgan-gen`'s modes share (labels, --mix/--morph/--walk, --dataset): checks before the model loads,
the request's budget, the numbered files, the notes on stderr."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arguments import parse_labels
from ..budget import check_disk, check_memory, check_picture, request_bytes
from ..generator import Generator
from ..images import encode, format_for, grid_size, scale
from ..inputs import check_seed, check_threads
from ..noise import noise_for_labels
from .errors import EXIT_USAGE, UserError, usage
from .loading import load_generator
from .output import STDOUT, write_file

PROG = "cgan-gen"
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


def note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def load(model: Path | None, provider: str, threads: int | None) -> Generator:
    return load_generator(model, provider, threads, note)


def check_seed_and_threads(seed: int | None, threads: int | None) -> None:
    """--seed and --threads, where given: usage errors before the model loads."""
    if threads is not None:
        usage(check_threads, threads, prefix="--")
    if seed is not None:
        usage(check_seed, seed, prefix="--")


def label_tokens(values: list[str] | None, all_labels: bool) -> list[str]:
    """'--label 0 --label 7,cat' -> ['0', '7', 'cat'], each resolved by the model (`inputs.as_labels`);
    [] for --all-labels. Usage errors for neither or both."""
    tokens = usage(parse_labels, values or [])
    if tokens and all_labels:
        raise UserError("pass --label or --all-labels, not both", EXIT_USAGE)
    if not tokens and not all_labels:
        raise UserError("no label given: pass --label N (repeatable, or 0,7) or --all-labels", EXIT_USAGE)
    return tokens


def output_format(output: str) -> str:
    """The format the output's suffix names; PNG for stdout and for devices and FIFOs, which have no suffix to go by."""
    if output == STDOUT or (os.path.exists(output) and not os.path.isfile(output)):
        return "PNG"
    return usage(format_for, output)


def check_budget(
    generator: Generator, labels: int, count: int, grid: bool, factor: int, image_format: str, output: str,
    classes: int = 0,
) -> None:
    """Refuse (exit 2), before allocating, a picture too large for its format or a request too large for memory
    or, when each image gets its own file, for the disk; `classes` is the weights per image of a mix."""
    channels, height, width = generator.image_shape
    if grid:
        height, width = grid_size(labels, count, height, width)
    height, width = height * factor, width * factor
    usage(check_picture, height, width, image_format)
    images = labels * count
    at_once = images if grid else min(images, FILE_BATCH)
    picture_bytes = height * width * channels
    usage(check_memory, request_bytes(images, at_once, generator.nz, generator.image_shape, picture_bytes, classes))
    if not grid and images > 1:
        _check_numbered(output, images)
        usage(check_disk, Path(output).parent, images, picture_bytes)


def _check_numbered(output: str, images: int) -> None:
    """Numbered files go beside `output`: that makes sense only for a file name, not a device or FIFO."""
    if os.path.exists(output) and not os.path.isfile(output):
        raise UserError(
            f"-o {output} is not a regular file, and {images:,} images go to numbered files beside it "
            "(STEM_LABEL_INDEX.SUFFIX): name a file, or add --grid for one picture",
            EXIT_USAGE,
        )


def write_many(
    output: Path, generator: Generator, request: np.ndarray, seed: int, factor: int, image_format: str,
    weights: np.ndarray | None = None,
) -> str:
    """One file per image, STEM_LABEL_INDEX.SUFFIX, generated FILE_BATCH at a time; return what was written.

    With class `weights` [1, num_classes], every image's (a --mix), `request` is their heaviest class: the
    noise and the file names follow it, as `Generator.generate_mixed` does. Each batch's noise (and
    weights) is drawn with it, continuing each label's occurrences, so memory stays flat whatever N.
    """
    names = numbered_paths(output, request, generator.class_names)
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
            write_file(path, encode(scale(image, factor), image_format))
            first, last = first or path, path
    pattern = output.with_name(f"{output.stem}_LABEL_INDEX{output.suffix}")
    return f"{len(request)} images as {pattern}, {first.name} to {last.name}"


def numbered_paths(output: Path, request: np.ndarray, class_names: Sequence[str]) -> Iterator[Path]:
    """STEM_LABEL_INDEX.SUFFIX per image, lazily; INDEX is the image's occurrence of its label, as in the noise rule.

    LABEL is the class's name (`flags`, `7`) where it is a plain file-name word, else its index.
    """
    seen: Counter[int] = Counter()
    for label in map(int, request):
        name = class_names[label] if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", class_names[label]) else label
        yield output.with_name(f"{output.stem}_{name}_{seen[label]}{output.suffix}")
        seen[label] += 1
