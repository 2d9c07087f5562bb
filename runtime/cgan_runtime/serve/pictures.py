"""`GET /generate`: cgan-gen's arguments as a query string, answered with the picture cgan-gen would write.

`?label=5&n=4&seed=0&grid=1&scale=2&format=png` is `cgan-gen --label 5 -n 4
--seed 0 --grid --scale 2 -o x.png`, byte for byte: the labels and mixes are
parsed by the same functions (`arguments`), the noise follows the same rule,
and the picture is assembled and encoded by the same code (`images`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arguments import parse_labels, parse_mix
from ..budget import check_picture
from ..contract import ModelSpec
from ..images import encode, grid_size, make_grid, scale, to_uint8
from ..inputs import as_labels, check_seed, new_seed
from ..mixing import as_weights, dominant_labels
from ..noise import noise_for_labels
from .protocol import BadRequest, too_many

FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
PARAMETERS = ("label", "mix", "n", "seed", "grid", "scale", "format")
# One answer's picture, enlarged: 4096 x 4096. Memory per request stays in the tens of MB.
MAX_PICTURE_PIXELS = 1 << 24


@dataclass(frozen=True)
class PictureRequest:
    """A checked /generate query: the model's inputs and how to draw its output."""

    noise: np.ndarray  # float32 [N, nz]
    labels: np.ndarray  # int64 [N], each image's label (a mix's heaviest class)
    weights: np.ndarray | None  # float32 [N, num_classes] for a mix
    count: int
    grid: bool
    factor: int
    image_format: str
    seed: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.image_format]


def parse_query(
    items: list[tuple[str, str]], spec: ModelSpec, can_mix: bool, max_images: int
) -> PictureRequest:
    """The query's parameters, checked as cgan-gen checks its options; BadRequest (400, or 413) otherwise."""
    for key, _ in items:
        if key not in PARAMETERS:
            raise BadRequest(f"unknown parameter {key!r}: expected {', '.join(PARAMETERS)}")
    single = {key: value for key, value in items if key != "label"}
    for key in single:
        if sum(k == key for k, _ in items) > 1:
            raise BadRequest(f"parameter {key!r} is given twice")
    tokens = [value for key, value in items if key == "label"]
    mix = single.get("mix")
    count = _integer(single, "n", 1, minimum=1)
    factor = _integer(single, "scale", 1, minimum=1)
    seed = _integer(single, "seed", None, minimum=0)
    grid = _flag(single, "grid")
    fmt = single.get("format", "png").lower()
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of png, jpeg, webp, got {fmt!r}")
    if count > max_images:  # before any array of `count` rows is made
        raise too_many(count, max_images)
    try:
        seed = new_seed() if seed is None else check_seed(seed)
        if mix is not None:
            if tokens:
                raise ValueError("pass label or mix, not both")
            if not can_mix:
                raise ValueError("this model is format version 1 and cannot mix classes")
            weights = np.repeat(as_weights(parse_mix(mix, "mix"), spec.num_classes, spec.class_names), count, axis=0)
            labels = dominant_labels(weights)
        elif tokens:
            weights = None
            classes = parse_labels(tokens, "label")
            if len(classes) * count > max_images:
                raise too_many(len(classes) * count, max_images)
            labels = np.repeat(as_labels(classes, spec.num_classes, spec.class_names), count)
        else:
            raise ValueError("no label given: pass label=N (repeatable, or 0,7) or mix=3=0.7,8=0.3")
    except BadRequest:
        raise
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if len(labels) > 1 and not grid:
        raise BadRequest("one answer is one picture: ask for one image or add grid=1")
    _check_picture(spec, len(labels) // count, count, grid, factor, FORMATS[fmt])
    noise = noise_for_labels(labels, spec.nz, seed)
    return PictureRequest(noise, labels, weights, count, grid, factor, FORMATS[fmt], seed)


def render(request: PictureRequest, raw: np.ndarray, output_range: tuple[float, float]) -> bytes:
    """The encoded picture of the model's output: one image, or a grid with a row per label."""
    images = to_uint8(raw, output_range)
    picture = make_grid(images, cols=request.count) if request.grid else images[0]
    return encode(scale(picture, request.factor), request.image_format)


def _check_picture(spec: ModelSpec, rows: int, cols: int, grid: bool, factor: int, image_format: str) -> None:
    """413 before anything is generated when the picture would be too large to hold or to encode."""
    _, height, width = spec.image_shape
    if grid:
        height, width = grid_size(rows, cols, height, width)
    height, width = height * factor, width * factor
    try:
        check_picture(height, width, image_format)
    except ValueError as exc:
        raise BadRequest(str(exc), 413) from None
    if height * width > MAX_PICTURE_PIXELS:
        raise BadRequest(
            f"the picture would be {width} x {height} pixels: this server draws at most {MAX_PICTURE_PIXELS:,}", 413
        )


def _integer(params: dict[str, str], key: str, default: int | None, minimum: int) -> int | None:
    if key not in params:
        return default
    try:
        value = int(params[key])
    except ValueError:
        raise BadRequest(f"{key} must be an integer, got {params[key]!r}") from None
    if value < minimum:
        raise BadRequest(f"{key} must be at least {minimum}, got {value}")
    return value


def _flag(params: dict[str, str], key: str) -> bool:
    value = params.get(key, "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise BadRequest(f"{key} must be 1 or 0, got {value!r}")
    return value in ("1", "true")
