"""`cgan-gen --mix / --morph / --walk`: conditions beyond one label, as pictures and animations.

As for plain labels: everything that can be checked before the model loads
(classes' syntax, seed, frames, the output's format and folder) is checked
first, then what the request will cost, and each file is written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..animation import ANIMATION_FORMATS, DEFAULT_FPS, DEFAULT_FRAMES, encode_animation, morph, walk
from ..arguments import parse_class, parse_mix
from ..budget import check_memory, check_picture, request_bytes
from ..generator import Generator, cannot_mix
from ..images import encode, make_grid, scale
from ..inputs import new_seed
from ..mixing import as_weights, dominant_labels
from .errors import EXIT_USAGE, UserError, usage
from .gen_shared import (
    ANIMATION_ONLY, Frames, check_budget, check_seed_and_threads, load, note, output_format, write_many,
)
from .output import STDOUT, check_destination, write_one


@dataclass(frozen=True)
class Condition:
    """One of --mix, --morph or --walk, parsed."""

    kind: str  # "mix", "morph" or "walk"
    weights: dict[int | str, float] | None = None  # --mix: class index or name -> weight
    classes: tuple[int | str, int | str] | None = None  # --morph: from, to (index or name)
    label: int | str | None = None  # --walk (index or name)


def parse_condition(mix: str | None, morph_spec: str | None, walk_label: str | None) -> Condition:
    """The one condition asked for (at least one flag is given); usage errors for anything malformed."""
    given = [flag for flag, value in (("--mix", mix), ("--morph", morph_spec), ("--walk", walk_label)) if value is not None]
    if len(given) > 1:
        raise UserError(f"pass one of --mix, --morph and --walk, not {' and '.join(given)}", EXIT_USAGE)
    if mix is not None:
        return Condition("mix", weights=usage(parse_mix, mix))
    if morph_spec is not None:
        ends = [parse_class(token) for token in morph_spec.split(":")]
        if len(ends) != 2 or "" in ends:
            raise UserError(f"--morph takes FROM:TO classes like 3:8, got {morph_spec!r}", EXIT_USAGE)
        return Condition("morph", classes=(ends[0], ends[1]))
    if not walk_label.strip():
        raise UserError("--walk takes a class, like 5", EXIT_USAGE)
    return Condition("walk", label=parse_class(walk_label))


def run_condition(
    condition: Condition,
    frames: Frames,
    *,
    count: int,
    seed: int | None,
    grid: bool,
    scale_factor: int,
    output: str,
    model: Path | None,
    provider: str,
    threads: int | None,
) -> None:
    """Generate what `condition` asks for and write it; the tail of `cgan-gen` for these flags."""
    check_seed_and_threads(seed, threads)
    image_format = _check_request(condition, frames, count, grid, output)
    animated = condition.kind != "mix"
    images_wanted = count if not animated else frames.count or DEFAULT_FRAMES
    check_destination(output)
    generator = load(model, provider, threads)
    if condition.kind != "walk" and not generator.can_mix:  # walks need no class weights
        raise UserError(cannot_mix(generator))
    classes = 0 if condition.kind == "walk" else generator.num_classes  # class weights per image
    if animated and not grid:
        _check_animation_budget(generator, images_wanted, scale_factor, image_format, classes)
    else:
        check_budget(generator, 1, images_wanted, grid, scale_factor, image_format, output, classes)
    seed = new_seed() if seed is None else seed
    if condition.kind == "mix" and not grid and count > 1:  # one file per image, FILE_BATCH in memory at a time
        weights = usage(_mix_weights, generator, condition, 1)  # one row: every image's
        request = np.repeat(dominant_labels(weights), count)
        written = write_many(Path(output), generator, request, seed, scale_factor, image_format, weights)
        note(f"wrote {written} (seed {seed}, {generator.providers[0]})")
        return
    images = usage(_images, generator, condition, images_wanted, count, seed)
    if animated and not grid:
        frames_scaled = np.stack([scale(frame, scale_factor) for frame in images])
        write_one(output, encode_animation(frames_scaled, image_format, frames.fps or DEFAULT_FPS, frames.loop is not False))  # loops unless --no-loop
        note(f"wrote {output} ({len(images)} frames, seed {seed}, {generator.providers[0]})")
        return
    picture = make_grid(images, cols=len(images)) if grid else images[0]
    written = write_one(output, encode(scale(picture, scale_factor), image_format))
    note(f"wrote {written} (seed {seed}, {generator.providers[0]})")


def _check_request(condition: Condition, frames: Frames, count: int, grid: bool, output: str) -> str:
    """Usage errors that need no model; returns the output's format (GIF or WEBP for an animation)."""
    if condition.kind == "mix":
        if frames.given():
            raise UserError(ANIMATION_ONLY, EXIT_USAGE)
        if output == STDOUT and not grid and count > 1:
            raise UserError("-o - writes a single PNG: ask for one image or add --grid", EXIT_USAGE)
        return output_format(output)
    if count != 1:
        raise UserError(f"--count is for labels and --mix; --{condition.kind} draws --frames images", EXIT_USAGE)
    if grid:
        if frames.fps is not None or frames.loop is not None:
            raise UserError("--grid draws a still strip: --fps and --loop are for animations", EXIT_USAGE)
        return output_format(output)  # one still strip, in any format a still may take
    fmt = Path(output).suffix.lower().lstrip(".")
    if output == STDOUT or fmt not in ANIMATION_FORMATS:
        raise UserError(
            f"--{condition.kind} writes an animation: name a .gif or .webp file "
            f"(got {output!r}), or add --grid for a still strip",
            EXIT_USAGE,
        )
    return fmt


def _check_animation_budget(generator: Generator, frames: int, factor: int, fmt: str, classes: int) -> None:
    """Refuse (exit 2) frames too large for the format, or an animation too large for memory: every
    frame is held, enlarged, until the file is encoded, and a morph's `classes` weights per frame."""
    channels, height, width = generator.image_shape
    height, width = height * factor, width * factor
    usage(check_picture, height, width, fmt.upper())
    frame_bytes = height * width * channels
    usage(check_memory, request_bytes(frames, frames, generator.nz, generator.image_shape, frames * frame_bytes, classes))


def _mix_weights(generator: Generator, condition: Condition, count: int) -> np.ndarray:
    """--mix's weights, one row per image; ValueError for an unknown class, or weights that are negative, NaN or off 1."""
    return np.repeat(as_weights(condition.weights, generator.num_classes, generator.class_names), count, axis=0)


def _images(generator: Generator, condition: Condition, frames: int, count: int, seed: int) -> np.ndarray:
    """uint8 images: the mix's (one picture or a grid's cells), or the frames of a morph or walk.

    ValueError as for `_mix_weights`, or for an unknown class.
    """
    if condition.kind == "mix":
        return generator.generate_mixed(_mix_weights(generator, condition, count), seed)
    if condition.kind == "morph":
        start, end = condition.classes
        return morph(generator, start, end, frames, seed)
    return walk(generator, condition.label, frames, seed)
