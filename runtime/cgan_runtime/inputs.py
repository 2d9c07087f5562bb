"""The generator's inputs: checked labels, caller-given noise and seeds.

The noise drawn from a seed follows the contract's portable rule, in `noise`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """True for Python and numpy integers; False for bools, which Python counts as ints."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int, or ValueError naming `name` when it is no integer >= minimum."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def as_labels(labels: Any, num_classes: int) -> np.ndarray:
    """Labels as int64 [N], each checked to be an integer in [0, num_classes).

    Accepts an int, a sequence of ints or a 1-D integer array. Floats (even
    2.0), bools and strings are refused rather than converted, so a caller's
    mix-up surfaces here instead of as a wrong digit.
    """
    if isinstance(labels, np.ndarray):
        if labels.ndim > 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be a 1-D integer array, got {labels.ndim}-D {labels.dtype}")
        items = labels.reshape(-1).tolist()
    elif isinstance(labels, Iterable) and not isinstance(labels, (str, bytes)):
        items = list(labels)
    else:
        items = [labels]
    if not items:
        raise ValueError("expected at least one label, got none")
    for item in items:
        if not is_int(item):
            raise ValueError(f"labels must be integers in [0, {num_classes}), got {item!r}")
        if not 0 <= item < num_classes:
            raise ValueError(f"label {item} is out of range: expected an integer in [0, {num_classes})")
    return np.array(items, dtype=np.int64)


def as_noise(noise: Any, count: int, nz: int) -> np.ndarray:
    """Caller-given noise as contiguous float32 [count, nz].

    Any floating dtype is accepted and cast to float32 (numpy's default
    float64 is what most callers have); integers and the rest are refused.
    """
    array = np.asarray(noise)
    if array.dtype.kind != "f":
        raise ValueError(f"noise must be a float array (float32; other floats are cast), got dtype {array.dtype}")
    if array.shape != (count, nz):
        raise ValueError(f"noise must have shape ({count}, {nz}) for {count} labels, got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def new_seed() -> int:
    """A fresh random seed, small enough to read back and type in."""
    return secrets.randbits(32)

