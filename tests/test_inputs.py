"""Labels and noise: what the generator accepts (the noise rule itself is tested in test_noise.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cgan_runtime.inputs import MAX_THREADS, as_labels, as_noise, check_int, check_seed, check_threads


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


@pytest.mark.parametrize("labels", [{1: "a", 2: "b"}, {1, 2}, frozenset({3})])
def test_as_labels_refuses_dicts_and_sets_which_have_no_order(labels):
    with pytest.raises(ValueError, match=r"labels must be an int, a sequence or a 1-D array, not a (dict|set|frozenset)"):
        as_labels(labels, num_classes=10)


def test_as_labels_takes_class_names_when_given_them():
    names = ("red", "green", "blue")
    assert as_labels(["blue", 0, "green"], 3, names).tolist() == [2, 0, 1]
    assert as_labels("red", 3, names).tolist() == [0]
    assert as_labels(np.array(["green", "blue"]), 3, names).tolist() == [1, 2]


def test_as_labels_names_the_classes_when_a_name_is_unknown():
    with pytest.raises(ValueError, match="unknown class 'purple': the classes are red, green, blue"):
        as_labels(["purple"], 3, ("red", "green", "blue"))


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


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_as_noise_refuses_nan_and_infinity_including_float64_overflowing_float32(bad):
    noise = np.zeros((2, 3))
    noise[1, 2] = bad
    with pytest.raises(ValueError, match="noise must be finite"):
        as_noise(noise, count=2, nz=3)


def test_check_int_names_the_argument_and_its_minimum():
    assert check_int("threads", np.int64(2), minimum=1) == 2
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        check_int("threads", 0, minimum=1)


@pytest.mark.parametrize("seed", [0, 2**53 - 1, np.uint64(2**53 - 1)])
def test_check_seed_accepts_64_bit_seeds(seed):
    assert check_seed(seed) == int(seed)


@pytest.mark.parametrize("seed", [-1, 2**53, 2**64, 2**200, 1.0, True, "3", None])
def test_check_seed_refuses_anything_else(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 9007199254740991\]"):
        check_seed(seed)


@pytest.mark.parametrize("threads", [0, MAX_THREADS + 1, 2**31, 100_000, 1.0, False])
def test_check_threads_caps_threads_at_four_per_core(threads):
    with pytest.raises(ValueError, match=rf"threads must be an integer in \[1, {MAX_THREADS}\] \(4 x the \d+ cores\)"):
        check_threads(threads)
    assert check_threads(MAX_THREADS) == MAX_THREADS



def test_text_is_a_class_name_first_and_an_index_only_when_no_class_has_that_name():
    """The one rule of cgan-gen, the Python API and the browser (classes 0..10 sort as 0, 1, 10, 2, ...)."""
    names = tuple(sorted(str(i) for i in range(11)))
    assert as_labels(["2", "10"], 11, names).tolist() == [3, 2]  # by name, wherever the name sorts
    assert as_labels([2, 10], 11, names).tolist() == [2, 10]  # an int is an index
    assert as_labels(["1"], 3, ("red", "green", "blue")).tolist() == [1]  # no class named "1": index 1
    with pytest.raises(ValueError, match="label -1 is out of range"):
        as_labels(["-1"], 3, ("red", "green", "blue"))
    with pytest.raises(ValueError, match="unknown class '2.0'"):
        as_labels(["2.0"], 3, ("red", "green", "blue"))


def test_class_weights_follow_the_same_rule():
    from cgan_runtime.mixing import as_weights

    names = tuple(sorted(str(i) for i in range(11)))
    assert as_weights({"2": 1.0}, 11, names).argmax() == 3
    assert as_weights({2: 1.0}, 11, names).argmax() == 2
