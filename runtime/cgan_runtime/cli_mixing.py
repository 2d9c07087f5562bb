"""`cgan-gen --mix / --morph / --walk`: conditions beyond one label, as pictures and animations.

Everything that can be checked before the model loads is checked first, and
every picture is encoded before anything is written, as for plain labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .animation import ANIMATION_FORMATS, DEFAULT_FPS, DEFAULT_FRAMES, MAX_FPS, encode_animation, morph, walk
from .cli import STDOUT, _check_destination, _load, _note, _write_outputs
from .errors import EXIT_USAGE, UserError
from .files import write_output
from .generator import Generator
from .images import encode_png, make_grid, scale
from .inputs import new_seed
from .mixing import as_weights, cannot_mix, dominant_labels

@dataclass(frozen=True)
class Condition:
    """One of --mix, --morph or --walk, parsed."""

    kind: str  # "mix", "morph" or "walk"
    weights: dict[int | str, float] | None = None  # --mix: class index or name -> weight
    classes: tuple[int, int] | None = None  # --morph: from, to
    label: int | None = None  # --walk


@dataclass(frozen=True)
class Frames:
    """--frames, --fps and --loop as given; None where the user left them out."""

    count: int | None
    fps: int | None
    loop: bool


def parse_condition(mix: str | None, morph_spec: str | None, walk_label: int | None) -> Condition:
    """The one condition asked for (at least one flag is given); usage errors for anything malformed."""
    given = [flag for flag, value in (("--mix", mix), ("--morph", morph_spec), ("--walk", walk_label)) if value is not None]
    if len(given) > 1:
        raise UserError(f"pass one of --mix, --morph and --walk, not {' and '.join(given)}", EXIT_USAGE)
    if mix is not None:
        return Condition("mix", weights=_parse_mix(mix))
    if morph_spec is not None:
        ends = [_int(token, "--morph takes FROM:TO classes like 3:8") for token in morph_spec.split(":")]
        if len(ends) != 2:
            raise UserError(f"--morph takes FROM:TO classes like 3:8, got {morph_spec!r}", EXIT_USAGE)
        return Condition("morph", classes=(ends[0], ends[1]))
    return Condition("walk", label=walk_label)


def _parse_mix(text: str) -> dict[int | str, float]:
    """'3=0.7,8=0.3' -> {3: 0.7, 8: 0.3}; a class that is no integer stays a name, checked by the model."""
    usage = "--mix takes CLASS=WEIGHT pairs like 3=0.7,8=0.3"
    weights: dict[int | str, float] = {}
    for pair in text.split(","):
        cls, sep, weight = pair.partition("=")
        if not sep or not cls.strip():
            raise UserError(f"{usage}, got {pair.strip()!r}", EXIT_USAGE)
        key: int | str = cls.strip()
        try:
            key = int(key)
        except ValueError:
            pass
        if key in weights:
            raise UserError(f"--mix names class {key} twice", EXIT_USAGE)
        try:
            weights[key] = float(weight)
        except ValueError:
            raise UserError(f"{usage}, got weight {weight.strip()!r}", EXIT_USAGE) from None
    return weights


def _int(token: str, usage: str) -> int:
    try:
        return int(token.strip())
    except ValueError:
        raise UserError(f"{usage}, got {token.strip()!r}", EXIT_USAGE) from None


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
    animated = condition.kind != "mix"
    fmt = _check_request(condition, frames, count, grid, output)
    _check_destination(output)
    generator = _load(model, provider, threads)
    if condition.kind != "walk" and not generator.can_mix:  # walks need no class weights
        raise UserError(cannot_mix(generator))
    seed = new_seed() if seed is None else seed
    try:
        images, request = _images(generator, condition, frames.count or DEFAULT_FRAMES, count, seed)
    except ValueError as exc:  # an unknown class, a weight that is negative, NaN or off 1
        raise UserError(str(exc), EXIT_USAGE) from None
    if animated and not grid:
        data = encode_animation(
            np.stack([scale(frame, scale_factor) for frame in images]), fmt, frames.fps or DEFAULT_FPS, frames.loop
        )
        write_output(output, data)
        _note(f"wrote {output} ({len(images)} frames, seed {seed}, {generator.providers[0]})")
        return
    cols = len(images) if animated else count
    pictures = [make_grid(images, cols=cols)] if grid else list(images)
    written = _write_outputs(output, [encode_png(scale(p, scale_factor)) for p in pictures], request)
    _note(f"wrote {written} (seed {seed}, {generator.providers[0]})")


def _check_request(condition: Condition, frames: Frames, count: int, grid: bool, output: str) -> str:
    """Usage errors that need no model; returns the animation format ("" for PNG)."""
    if condition.kind == "mix":
        if frames.count is not None or frames.fps is not None:
            raise UserError("--frames and --fps are for --morph and --walk", EXIT_USAGE)
        if output == STDOUT and not grid and count > 1:
            raise UserError("-o - writes a single PNG: ask for one image or add --grid", EXIT_USAGE)
        return ""
    if count != 1:
        raise UserError(f"--count is for labels and --mix; --{condition.kind} draws --frames images", EXIT_USAGE)
    if frames.count is not None and frames.count < 2:
        raise UserError(f"--frames must be at least 2, got {frames.count}", EXIT_USAGE)
    if frames.fps is not None and not 1 <= frames.fps <= MAX_FPS:
        raise UserError(f"--fps must be between 1 and {MAX_FPS}, got {frames.fps}", EXIT_USAGE)
    if grid:
        return ""  # one PNG strip, like any --grid
    fmt = Path(output).suffix.lower().lstrip(".")
    if output == STDOUT or fmt not in ANIMATION_FORMATS:
        raise UserError(
            f"--{condition.kind} writes an animation: name a .gif or .webp file "
            f"(got {output!r}), or add --grid for a PNG strip",
            EXIT_USAGE,
        )
    return fmt


def _images(
    generator: Generator, condition: Condition, frames: int, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and, per image, the label its file name carries (the heaviest class of a mix)."""
    if condition.kind == "mix":
        weights = np.repeat(as_weights(condition.weights, generator.num_classes, generator.class_names), count, axis=0)
        return generator.generate_mixed(weights, seed), dominant_labels(weights)
    if condition.kind == "morph":
        start, end = condition.classes
        return morph(generator, start, end, frames, seed), np.full(frames, start)
    return walk(generator, condition.label, frames, seed), np.full(frames, condition.label)
