"""The portable noise rule: the contract's published vectors, the occurrence rule, and its statistics."""

from __future__ import annotations

import numpy as np
import pytest

from cgan_runtime.inputs import SEED_LIMIT
from cgan_runtime.noise import hash_words, noise_for_labels

# The contract's published test vectors (README, "Portable noise"): spec values that every
# implementation must reproduce; tests/test_web.py checks the JavaScript side against them.
HASH_VECTORS = [
    # (seed, label, occurrence, counter) -> uint32
    ((0, 0, 0, 0), 0xEE9D294A),
    ((1, 0, 0, 0), 0x62E4AE66),
    ((2**40 + 12345, 7, 3, 199), 0x6A388BD7),
    ((2**53 - 1, 9, 0, 1), 0xC65B2A71),
]
NOISE_VECTORS = [
    # (labels, nz, seed) -> float32 [len(labels), nz]
    (
        ([0, 3, 0], 3, 0),
        [
            [-0.36646336, -1.75742483, 0.39059728],
            [-0.31846261, 2.72213507, -0.52971888],
            [-0.65384197, 0.16868347, -1.58491004],
        ],
    ),
    (([9], 2, 2**53 - 1), [[0.13732378, -0.59192032]]),
]
# float64 log and cos may differ by an ulp between maths libraries, which can move the
# float32 result by one ulp: well inside this.
NOISE_TOLERANCE = 1e-6


@pytest.mark.parametrize("key, expected", HASH_VECTORS)
def test_hash_matches_the_published_vectors(key, expected):
    seed, label, occurrence, counter = key
    assert int(hash_words(seed, label, np.array([[occurrence]]), np.array([[counter]]))[0, 0]) == expected


@pytest.mark.parametrize("request_, expected", NOISE_VECTORS)
def test_noise_matches_the_published_vectors(request_, expected):
    labels, nz, seed = request_
    noise = noise_for_labels(np.array(labels), nz, seed)
    assert noise.dtype == np.float32
    np.testing.assert_allclose(noise, expected, rtol=0, atol=NOISE_TOLERANCE)


def test_the_jth_occurrence_of_a_label_gets_row_j_of_its_noise():
    mixed = noise_for_labels(np.array([3, 5, 3]), nz=4, seed=11)
    threes = noise_for_labels(np.array([3, 3]), nz=4, seed=11)
    five = noise_for_labels(np.array([5]), nz=4, seed=11)
    np.testing.assert_array_equal(mixed, [threes[0], five[0], threes[1]])


def test_a_row_does_not_depend_on_how_many_rows_are_drawn():
    few = noise_for_labels(np.array([2]), nz=5, seed=0)
    many = noise_for_labels(np.array([2] * 50), nz=5, seed=0)
    np.testing.assert_array_equal(few[0], many[0])


def test_noise_is_standard_normal_and_differs_between_labels_and_seeds():
    noise = noise_for_labels(np.repeat(np.arange(10), 200), nz=100, seed=3)  # 200,000 draws
    assert abs(noise.mean()) < 0.01
    assert abs(noise.std() - 1) < 0.01
    assert abs(np.mean(noise > 0) - 0.5) < 0.01
    assert abs(np.mean(np.abs(noise) < 1) - 0.6827) < 0.01  # the one-sigma mass
    other_seed = noise_for_labels(np.repeat(np.arange(10), 200), nz=100, seed=4)
    assert abs(np.corrcoef(noise.ravel(), other_seed.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(noise[:200].ravel(), noise[200:400].ravel())[0, 1]) < 0.02


def test_the_noise_checks_its_seed():  # the range: test_inputs.py; the largest seed has its vectors above
    with pytest.raises(ValueError, match="seed must be"):
        noise_for_labels(np.array([1]), nz=2, seed=SEED_LIMIT)
