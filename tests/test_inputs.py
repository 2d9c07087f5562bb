"""Labels and noise: what the generator accepts (the noise rule itself is tested in test_noise.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cgan_runtime.inputs import as_labels, as_noise, check_int


@pytest.mark.parametrize(
    "labels, expected",
    [
        (3, [3]),
        ([0, 9, 9], [0, 9, 9]),
        ((4,), [4]),
        (np.array([1, 2], dtype=np.uint8), [1, 2]),
        (np.int32(7), [7]),
        (np.array(5), [5]),
        (range(3), [0, 1, 2]),
    ],
)
def test_as_labels_accepts_ints_sequences_and_integer_arrays(labels, expected):
    result = as_labels(labels, num_classes=10)
    assert result.dtype == np.int64
    assert result.tolist() == expected


@pytest.mark.parametrize(
    "labels",
    [1.5, 2.0, True, "3", [1, 2.0], [1, False], [[1, 2]], np.array([1.0]), np.array([True]), np.array([[1]]), None],
)
def test_as_labels_refuses_anything_but_integers(labels):
    with pytest.raises(ValueError, match="integer"):
        as_labels(labels, num_classes=10)


@pytest.mark.parametrize("labels", [-1, 10, [0, 10], np.array([3, -2])])
def test_as_labels_refuses_labels_outside_the_classes(labels):
    with pytest.raises(ValueError, match=r"out of range: expected an integer in \[0, 10\)"):
        as_labels(labels, num_classes=10)


def test_as_labels_refuses_an_empty_request():
    with pytest.raises(ValueError, match="at least one label"):
        as_labels([], num_classes=10)


def test_as_noise_casts_other_floats_to_contiguous_float32():
    noise = np.ones((4, 3), dtype=np.float64)[::2]
    result = as_noise(noise, count=2, nz=3)
    assert result.dtype == np.float32 and result.flags.c_contiguous
    np.testing.assert_array_equal(result, 1.0)


@pytest.mark.parametrize(
    "noise, message",
    [
        (np.zeros((2, 4), np.float32), r"shape \(2, 3\) for 2 labels, got \(2, 4\)"),
        (np.zeros((3, 3), np.float32), r"shape \(2, 3\) for 2 labels, got \(3, 3\)"),
        (np.zeros(6, np.float32), r"got \(6,\)"),
        (np.zeros((2, 3), np.int64), "float array .* got dtype int64"),
        ([["a"] * 3] * 2, "float array"),
    ],
)
def test_as_noise_says_what_shape_and_dtype_it_expected(noise, message):
    with pytest.raises(ValueError, match=message):
        as_noise(noise, count=2, nz=3)


def test_check_int_names_the_argument_and_its_minimum():
    assert check_int("threads", np.int64(2), minimum=1) == 2
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        check_int("threads", 0, minimum=1)
