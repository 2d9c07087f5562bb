"""The portable noise rule: the same (seed, label, occurrence) gives the same noise in any language.

The rule is stated in `contract.py`'s docstring and the README; web/noise.js is
the JavaScript side. Everything is 32-bit integer arithmetic (MurmurHash3's
x86_32 mixing, which JavaScript does with Math.imul) followed by Box-Muller in
float64, so no language's own random streams are involved.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .inputs import check_int, check_seed

_C1 = np.uint32(0xCC9E2D51)
_C2 = np.uint32(0x1B873593)
_KEY_WORDS = 5  # seed_lo, seed_hi, label, occurrence, counter
_TWO_PI = 2.0 * np.pi
_TWO_TO_MINUS_32 = 2.0**-32


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _scrambled(word: np.ndarray) -> np.ndarray:
    """MurmurHash3's per-word scramble: k * c1, rotate 15, * c2."""
    return _rotl(word * _C1, 15) * _C2


def _absorb(h: np.ndarray, scrambled: np.ndarray) -> np.ndarray:
    return _rotl(h ^ scrambled, 13) * np.uint32(5) + np.uint32(0xE6546B64)


def _finish(h: np.ndarray) -> np.ndarray:
    h = h ^ np.uint32(4 * _KEY_WORDS)
    h = (h ^ (h >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def hash_words(seed: int, label: int, occurrences: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 (hash seed 0) of the 20 little-endian bytes
    seed_lo, seed_hi, label, occurrence, counter: uint32, broadcast over
    `occurrences` [n, 1] and `counters` [1, m]."""
    h = np.zeros(1, dtype=np.uint32)
    for word in (seed & 0xFFFFFFFF, seed >> 32, label):
        h = _absorb(h, _scrambled(np.array([word], dtype=np.uint32)))
    # The prefix is one value; only the last two words vary, so the work is per row and per element.
    h = _absorb(h, _scrambled(np.asarray(occurrences, dtype=np.uint32)))
    return _finish(_absorb(h, _scrambled(np.asarray(counters, dtype=np.uint32))))


def noise_for_labels(
    labels: np.ndarray, nz: int, seed: int, first_occurrence: Mapping[int, int] | None = None
) -> np.ndarray:
    """float32 [N, nz] noise following the contract's portable noise rule.

    The j-th occurrence of label L in `labels` gets row j of L's noise, so an
    image depends only on (seed, L, j), never on the other labels asked
    with it or on how the request is split into batches. Element k of that
    row is Box-Muller on the hashes of counters 2k and 2k+1 (see `contract`).
    `first_occurrence` {L: j0} continues a request drawn in parts: L's
    occurrences here count from j0 (the rows an earlier part already took).
    ValueError unless 0 <= seed < 2^53 (`inputs.SEED_LIMIT`).
    """
    labels = np.asarray(labels)
    occurrences = np.empty(len(labels), dtype=np.int64)
    # A set rather than np.unique, which imports numpy.ma: ~30 ms of cgan-gen's cold start.
    for label in set(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        first = (first_occurrence or {}).get(label, 0)
        occurrences[rows] = np.arange(first, first + len(rows))
    return noise_for_occurrences(labels, occurrences, nz, seed)


def noise_for_occurrences(labels: np.ndarray, occurrences: np.ndarray, nz: int, seed: int) -> np.ndarray:
    """float32 [N, nz]: row i is the noise of (seed, labels[i], occurrences[i]) under the portable rule.

    For callers that need some images of a label and not the others, such as
    a labelled set resumed after an interruption. ValueError for a bad seed or
    an occurrence outside [0, 2^32).
    """
    seed = check_seed(seed)
    nz = check_int("nz", nz, minimum=1)
    labels, occurrences = np.asarray(labels), np.asarray(occurrences, dtype=np.int64)
    if occurrences.shape != labels.shape:
        raise ValueError(f"expected one occurrence per label, got {occurrences.shape} for {labels.shape}")
    if len(occurrences) and (occurrences.min() < 0 or occurrences.max() >= 2**32):
        raise ValueError("occurrences must be in [0, 2^32)")
    noise = np.empty((len(labels), nz), dtype=np.float32)
    counters = np.arange(2 * nz, dtype=np.uint32)[None, :]
    for label in set(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        hashes = hash_words(seed, int(label), occurrences[rows].astype(np.uint32)[:, None], counters)
        u1 = (hashes[:, 0::2] + 1.0) * _TWO_TO_MINUS_32  # (0, 1]: log(u1) is finite
        u2 = hashes[:, 1::2] * _TWO_TO_MINUS_32  # [0, 1)
        noise[rows] = np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)
    return noise
