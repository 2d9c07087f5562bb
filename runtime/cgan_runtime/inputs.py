"""The generator's inputs: checked labels, caller-given noise and seeds.

The noise drawn from a seed follows the contract's portable rule, in `noise`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import Any

import numpy as np

# Seeds stay below 2^53, the range the portable noise rule defines (a browser's
# numbers are exact there); numpy would take any int, the other runtimes not.
SEED_LIMIT = 2**53
# Text that is an integer: an index when no class has it as its name.
_INTEGER = re.compile(r"-?[0-9]+")
# More onnxruntime threads than this only adds contention (and each costs memory).
MAX_THREADS = 4 * (os.cpu_count() or 1)


def is_int(value: Any) -> bool:
    """True for Python and numpy integers; False for bools, which Python counts as ints."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int, or ValueError naming `name` when it is no integer in [minimum, maximum]."""
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int:
    """A seed as an int in [0, 2**53); ValueError otherwise."""
    return check_int("seed", seed, minimum=0, maximum=SEED_LIMIT - 1)


def check_threads(threads: Any) -> int:
    """An onnxruntime thread count in [1, 4 x this machine's cores]; ValueError otherwise."""
    if not is_int(threads) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(
            f"threads must be an integer in [1, {MAX_THREADS}] (4 x the {os.cpu_count() or 1} cores), got {threads!r}"
        )
    return int(threads)


def as_labels(labels: Any, num_classes: int, class_names: Sequence[str] = ()) -> np.ndarray:
    """Labels as int64 [N], each checked to be an integer in [0, num_classes).

    Accepts an int, a sequence of ints or a 1-D integer array. With
    `class_names`, a label may also be a str: the class of that name or, when
    no class has that name and the text is an integer ("2"), the class of
    that index. So a class named "2" is chosen by "2" wherever it sits in
    the sorted names (0, 1, 10, 2, ...), while the int 2 is always index 2:
    the rule `cgan-gen` and the browser module follow too. Floats (even 2.0),
    bools, other strings, dicts and sets (no order) are refused rather than
    converted, so a caller's mix-up surfaces here instead of as a wrong image.
    """
    if isinstance(labels, (Mapping, Set)):
        raise ValueError(f"labels must be an int, a sequence or a 1-D array, not a {type(labels).__name__}")
    if isinstance(labels, np.ndarray):
        if labels.ndim > 1 or labels.dtype.kind not in ("iuU" if class_names else "iu"):
            raise ValueError(f"labels must be a 1-D integer array, got {labels.ndim}-D {labels.dtype}")
        items = labels.reshape(-1).tolist()
    elif isinstance(labels, Iterable) and not isinstance(labels, (str, bytes)):
        items = list(labels)
    else:
        items = [labels]
    if not items:
        raise ValueError("expected at least one label, got none")
    indices = {name: index for index, name in enumerate(class_names)}
    resolved = []
    for item in items:
        if isinstance(item, str) and class_names:
            if item in indices:
                item = indices[item]
            elif _INTEGER.fullmatch(item):
                item = int(item)
            else:
                raise ValueError(f"unknown class {item!r}: the classes are {_listed(class_names)}")
        if not is_int(item):
            raise ValueError(f"labels must be integers in [0, {num_classes}), got {item!r}")
        if not 0 <= item < num_classes:
            raise ValueError(f"label {item} is out of range: expected an integer in [0, {num_classes})")
        resolved.append(item)
    return np.array(resolved, dtype=np.int64)


def _listed(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(name)[1:-1] for name in names[:limit])  # escaped: names come from the model file
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def as_noise(noise: Any, count: int, nz: int) -> np.ndarray:
    """Caller-given noise as contiguous float32 [count, nz], every value finite.

    Any floating dtype is accepted and cast to float32 (numpy's default
    float64 is what most callers have); integers and the rest are refused,
    and so are NaN and infinities (also those a float64 overflows into).
    """
    array = np.asarray(noise)
    if array.dtype.kind != "f":
        raise ValueError(f"noise must be a float array (float32; other floats are cast), got dtype {array.dtype}")
    if array.shape != (count, nz):
        raise ValueError(f"noise must have shape ({count}, {nz}) for {count} labels, got {array.shape}")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError("noise must be finite: it contains NaN or infinity (after the cast to float32)")
    return array


def new_seed() -> int:
    """A fresh random seed, small enough to read back and type in."""
    return int.from_bytes(os.urandom(4), "little")  # what secrets.randbits(32) does, without its imports

