"""The Generator API on the tiny fixture: properties, output, determinism, input checks, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cgan_runtime
from cgan_runtime import Generator, ModelSpec
from cgan_runtime.contract import KEY_FORMAT_VERSION, KEY_SPEC
from cgan_runtime.images import to_uint8
from cgan_runtime.inputs import MAX_THREADS
from cgan_runtime.noise import noise_for_labels
from cgan_runtime.providers import CPU

from support import TINY_MODEL


def test_generator_exposes_the_spec_read_from_the_file(generator):
    assert generator.spec == ModelSpec(arch="tiny-fixture", nz=8)
    assert generator.num_classes == 10
    assert generator.class_names == tuple("0123456789")
    assert generator.nz == 8
    assert generator.image_shape == (1, 28, 28)
    assert generator.path == TINY_MODEL
    assert generator.providers == [CPU]
    assert generator.metadata[KEY_FORMAT_VERSION] == "1"
    assert KEY_SPEC in generator.metadata
    assert "tiny-fixture" in repr(generator)


def test_generate_returns_one_uint8_image_per_label(generator):
    images = generator.generate([0, 1, 2], seed=0)
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255  # the fixture's tanh spans the range


def test_generate_accepts_a_single_int_label(generator):
    assert generator.generate(4, seed=0).shape == (1, 28, 28)


def test_generate_raw_returns_the_model_output_that_generate_converts(generator):
    raw = generator.generate_raw([7, 7], seed=2)
    assert raw.shape == (2, 1, 28, 28) and raw.dtype == np.float32
    assert raw.min() >= -1.0 and raw.max() <= 1.0
    np.testing.assert_array_equal(to_uint8(raw, generator.spec.output_range), generator.generate([7, 7], seed=2))


def test_generate_same_seed_and_label_give_the_same_image_whatever_else_is_asked(generator):
    alone = generator.generate([5], seed=0)[0]
    np.testing.assert_array_equal(alone, generator.generate([3, 5], seed=0)[1])
    np.testing.assert_array_equal(alone, generator.generate([5] * 4, seed=0, batch_size=1)[0])


def test_generate_does_not_depend_on_batch_size(generator):
    labels = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    np.testing.assert_array_equal(
        generator.generate(labels, seed=7, batch_size=3), generator.generate(labels, seed=7, batch_size=256)
    )


def test_generate_gives_each_occurrence_of_a_label_its_own_image(generator):
    first, second = generator.generate([2, 2], seed=0)
    assert not np.array_equal(first, second)


def test_generate_with_other_seeds_gives_other_images(generator):
    assert not np.array_equal(generator.generate([1], seed=0), generator.generate([1], seed=1))


def test_generate_without_seed_draws_fresh_noise_each_call(generator):
    assert not np.array_equal(generator.generate([1]), generator.generate([1]))


def test_generate_with_given_noise_matches_the_seeded_rule(generator):
    labels = np.array([0, 8, 0])
    noise = noise_for_labels(labels, generator.nz, seed=9)
    np.testing.assert_array_equal(generator.generate(labels, noise=noise), generator.generate(labels, seed=9))
    np.testing.assert_array_equal(
        generator.generate_raw(labels, noise=noise.astype(np.float64)), generator.generate_raw(labels, seed=9)
    )


def test_generate_and_generate_raw_take_labels_then_seed_in_the_same_order(generator):
    raw = generator.generate_raw([4, 2], 5)
    np.testing.assert_array_equal(to_uint8(raw, generator.spec.output_range), generator.generate([4, 2], 5))


def test_the_seed_a_call_would_draw_can_be_drawn_first_with_new_seed(generator):
    seed = cgan_runtime.new_seed()
    assert 0 <= seed < 2**53
    np.testing.assert_array_equal(generator.generate([3], seed), generator.generate([3], seed=seed))


def test_generate_takes_class_names_as_labels(generator):
    np.testing.assert_array_equal(generator.generate(["7", "2"], seed=1), generator.generate([7, 2], seed=1))


def test_generate_checks_its_seed(generator):  # the range: test_inputs.py
    with pytest.raises(ValueError, match="seed must be an integer"):
        generator.generate([1], seed=2**53)


def test_generate_refuses_seed_and_noise_together(generator):
    with pytest.raises(ValueError, match="either seed or noise"):
        generator.generate([1], seed=0, noise=np.zeros((1, 8), np.float32))


@pytest.mark.parametrize(
    "labels, message",
    [
        (10, r"label 10 is out of range: expected an integer in \[0, 10\)"),
        ([1, -1], r"label -1 is out of range"),
        (1.5, r"integers in \[0, 10\), got 1.5"),
        (["one"], r"unknown class 'one': the classes are 0, 1, 2"),
        ({1: 2}, "not a dict"),
        ({1, 2}, "not a set"),
        (True, "got True"),
        ([], "at least one label"),
    ],
)
def test_generate_refuses_bad_labels_saying_what_it_expected(generator, labels, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(labels, seed=0)


@pytest.mark.parametrize(
    "noise, message",
    [
        (np.zeros((1, 7), np.float32), r"shape \(1, 8\) for 1 labels, got \(1, 7\)"),
        (np.zeros((2, 8), np.float32), r"shape \(1, 8\) for 1 labels, got \(2, 8\)"),
        (np.zeros((1, 8), np.int32), "got dtype int32"),
        (np.full((1, 8), np.nan, np.float32), "noise must be finite"),
        (np.full((1, 8), np.inf), "noise must be finite"),
    ],
)
def test_generate_refuses_noise_of_the_wrong_shape_or_dtype(generator, noise, message):
    with pytest.raises(ValueError, match=message):
        generator.generate([1], noise=noise)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_generate_refuses_a_batch_size_below_one(generator, batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        generator.generate([1], seed=0, batch_size=batch_size)


def test_generator_checks_its_thread_count():  # the limits: test_inputs.py
    with pytest.raises(ValueError, match="threads must be an integer"):
        Generator(TINY_MODEL, provider="cpu", threads=MAX_THREADS + 1)


def test_generate_from_several_threads_matches_sequential_calls(generator):
    requests = [([d, (d + 3) % 10] * 8, seed) for seed, d in enumerate(range(8))]
    expected = [generator.generate(labels, seed=seed, batch_size=4) for labels, seed in requests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda r: generator.generate(r[0], seed=r[1], batch_size=4), requests * 3))
    for got, want in zip(results, expected * 3, strict=True):
        np.testing.assert_array_equal(got, want)
