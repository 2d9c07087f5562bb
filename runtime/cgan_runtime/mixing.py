"""Class weights as the condition, and the frames of a morph or a walk.

Plain numpy, like `inputs`: a caller can rebuild exactly the weights and
noise a morph or walk used.

Weights are proportions that must already sum to 1 per image (within
`SUM_TOLERANCE`, which only absorbs float rounding; the row is then divided
by its sum). Rows that sum to something else are refused rather than
normalised, so `{3: 0.7, 8: 0.2}` is caught as the slip it probably is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .inputs import as_labels, check_int
from .noise import noise_for_labels

Weights = Mapping[int, float] | Sequence[Mapping[int, float]] | np.ndarray
SUM_TOLERANCE = 1e-4


def as_weights(weights: Any, num_classes: int, class_names: Sequence[str] = ()) -> np.ndarray:
    """Class weights as float32 [N, num_classes], each row >= 0 and summing to 1.

    Accepts a mapping {class: weight} (one image), a sequence of mappings,
    or a float array [N, num_classes]; a class is its index or, as str, its
    name in `class_names`. ValueError for an unknown class, a negative or
    non-finite weight, or a row that does not sum to 1.
    """
    if isinstance(weights, Mapping):
        rows = _from_mappings([weights], num_classes, class_names)
    elif isinstance(weights, np.ndarray):
        rows = _from_array(weights, num_classes)
    elif isinstance(weights, Sequence) and weights and all(isinstance(row, Mapping) for row in weights):
        rows = _from_mappings(weights, num_classes, class_names)
    else:
        raise ValueError(
            "class weights must be a {class: weight} mapping, a list of them, "
            f"or a float array [N, {num_classes}], got {type(weights).__name__}"
        )
    if not np.isfinite(rows).all():
        raise ValueError("class weights must be finite numbers, got NaN or infinity")
    if (rows < 0).any():
        image, cls = np.argwhere(rows < 0)[0]
        raise ValueError(f"class weights must be >= 0, got {rows[image, cls]:g} for class {cls} (image {image})")
    sums = rows.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > SUM_TOLERANCE)
    if off.size:
        raise ValueError(f"class weights must sum to 1 per image, got {sums[off[0]]:g} (image {off[0]})")
    return (rows / sums[:, None]).astype(np.float32)


def _from_mappings(mappings: Sequence[Mapping[Any, Any]], num_classes: int, class_names: Sequence[str]) -> np.ndarray:
    rows = np.zeros((len(mappings), num_classes), dtype=np.float64)
    for index, mapping in enumerate(mappings):
        if not mapping:
            raise ValueError(f"class weights for image {index} name no class")
        seen = set()
        for cls, weight in mapping.items():
            column = class_index(cls, num_classes, class_names)
            if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (int, float, np.integer, np.floating)):
                raise ValueError(f"the weight of class {cls!r} must be a number, got {weight!r}")
            if column in seen:  # {3: ..., "3": ...}
                raise ValueError(f"class {cls!r} is weighted twice for image {index}")
            seen.add(column)
            rows[index, column] = weight
    return rows


def class_index(cls: Any, num_classes: int, class_names: Sequence[str] = ()) -> int:
    """A class given by index or, as str, by name, as its index; ValueError, worded as for labels, if there is none."""
    if isinstance(cls, (list, tuple, np.ndarray)):  # as_labels would take a sequence as several labels
        raise ValueError(f"a class is one index or name, got {cls!r}")
    return int(as_labels(cls, num_classes, class_names)[0])


def _from_array(array: np.ndarray, num_classes: int) -> np.ndarray:
    if array.dtype.kind != "f" or array.ndim != 2 or array.shape[1] != num_classes or len(array) == 0:
        raise ValueError(
            f"class weights must be a float array [N, {num_classes}] with N >= 1, "
            f"got {array.dtype} with shape {array.shape}"
        )
    return array.astype(np.float64)


def dominant_labels(weights: np.ndarray) -> np.ndarray:
    """int64 [N]: each image's heaviest class (the lowest one on a tie).

    A mixed image takes its noise as an image of this label would, so
    one-hot weights give exactly the integer label's picture for a seed.
    """
    return weights.argmax(axis=1).astype(np.int64)


def morph_weights(start: int, end: int, frames: int, num_classes: int) -> np.ndarray:
    """float32 [frames, num_classes]: pure `start`, then linearly on to pure `end`."""
    frames = check_int("frames", frames, minimum=2)
    for cls in (start, end):
        class_index(cls, num_classes)
    t = np.linspace(0.0, 1.0, frames)
    weights = np.zeros((frames, num_classes))
    weights[:, start] += 1 - t
    weights[:, end] += t
    return weights.astype(np.float32)


def morph_noise(start: int, nz: int, frames: int, seed: int) -> np.ndarray:
    """float32 [frames, nz]: the noise of `start`'s first image for `seed`, in every frame."""
    frames = check_int("frames", frames, minimum=2)
    row = noise_for_labels(np.array([start], dtype=np.int64), nz, seed)
    return np.repeat(row, frames, axis=0)


def walk_noise(label: int, nz: int, frames: int, seed: int) -> np.ndarray:
    """float32 [frames, nz]: noise once round a great circle, a cos(theta) + b sin(theta).

    a and b are the label's first two noise rows for `seed`. Since they are
    independent standard normals, every point of the circle is a standard
    normal too, so each frame is as plausible a sample as any; frame 0 is
    exactly the label's first image and the last frame leads back to it, so
    the animation loops without a jump.
    """
    frames = check_int("frames", frames, minimum=2)
    a, b = noise_for_labels(np.array([label, label], dtype=np.int64), nz, seed)
    theta = 2 * math.pi * np.arange(frames) / frames
    return (np.cos(theta)[:, None] * a + np.sin(theta)[:, None] * b).astype(np.float32)
