"""Class weights, morphs and walks in the runtime, on the tiny fixtures (no torch, no onnx).

The tiny generator is image = tanh(embedding[label] + noise @ weight), so a mix of
classes shows up as the mean of the classes' pre-activations.
"""

from __future__ import annotations

import io

import numpy as np
import onnxruntime
import pytest
from PIL import Image, ImageSequence

from cgan_runtime import Generator
from cgan_runtime.animation import encode_animation, morph, walk
from cgan_runtime.contract import INPUT_LABEL, INPUT_LABEL_WEIGHTS, INPUT_NOISE, KEY_FORMAT_VERSION, OUTPUT_IMAGE
from cgan_runtime.noise import noise_for_labels
from cgan_runtime.mixing import as_weights, dominant_labels, morph_noise, morph_weights, walk_noise

from support import TINY_MIXING_MODEL

CLASSES = 10


@pytest.fixture(scope="module")
def mixer() -> Generator:
    return Generator(TINY_MIXING_MODEL, provider="cpu", threads=1)


def test_a_version_2_file_takes_class_weights_and_a_version_1_file_does_not(mixer, generator):
    assert mixer.can_mix and mixer.metadata[KEY_FORMAT_VERSION] == "2"
    assert not generator.can_mix and generator.metadata[KEY_FORMAT_VERSION] == "1"


def test_omitted_weights_give_the_version_1_output_bit_for_bit(mixer, generator):
    labels = np.arange(30) % CLASSES
    assert np.array_equal(mixer.generate_raw(labels, seed=4), generator.generate_raw(labels, seed=4))


def test_one_hot_weights_reproduce_every_integer_label(mixer):
    labels = np.arange(3 * CLASSES) % CLASSES
    expected = mixer.generate_raw(labels, seed=7)
    from_array = mixer.generate_mixed_raw(np.eye(CLASSES, dtype=np.float32)[labels], seed=7)
    from_mappings = mixer.generate_mixed_raw([{int(label): 1.0} for label in labels], seed=7)
    assert np.abs(from_array - expected).max() <= 1e-6
    assert np.abs(from_mappings - expected).max() <= 1e-6
    assert np.array_equal(mixer.generate_mixed({3: 1.0}, seed=7), mixer.generate([3], seed=7))


def test_mixed_output_does_not_depend_on_the_batch_size(mixer):
    weights = np.random.default_rng(2).dirichlet(np.ones(CLASSES), size=30).astype(np.float32)
    whole = mixer.generate_mixed_raw(weights, seed=3)
    assert np.array_equal(mixer.generate_mixed_raw(weights, seed=3, batch_size=7), whole)
    assert np.array_equal(mixer.generate_mixed_raw(weights[4:5], noise=mixer_noise(mixer, weights, 3)[4:5]), whole[4:5])


def mixer_noise(mixer, weights, seed):
    """The noise a mix request uses: the noise rule applied to each row's heaviest class."""
    return noise_for_labels(dominant_labels(weights), mixer.nz, seed)


def test_the_weights_not_the_label_choose_the_class_in_the_graph():
    """An embedder feeding its own label with one-hot weights of another class gets that class."""
    session = onnxruntime.InferenceSession(str(TINY_MIXING_MODEL), providers=["CPUExecutionProvider"])
    noise = np.random.default_rng(0).standard_normal((CLASSES, 8), dtype=np.float32)
    labels = np.arange(CLASSES, dtype=np.int64)
    pure = session.run([OUTPUT_IMAGE], {INPUT_NOISE: noise, INPUT_LABEL: labels})[0]
    weights = np.eye(CLASSES, dtype=np.float32)
    shifted = session.run(
        [OUTPUT_IMAGE], {INPUT_NOISE: noise, INPUT_LABEL: (labels + 1) % CLASSES, INPUT_LABEL_WEIGHTS: weights}
    )[0]
    assert np.abs(shifted - pure).max() <= 1e-6


def test_a_half_and_half_mix_is_the_mean_of_the_two_classes_before_the_output_tanh(mixer):
    noise = np.random.default_rng(1).standard_normal((1, mixer.nz), dtype=np.float32)
    three = mixer.generate_raw([3], noise=noise).astype(np.float64)
    eight = mixer.generate_raw([8], noise=noise).astype(np.float64)
    mixed = mixer.generate_mixed_raw({3: 0.5, 8: 0.5}, noise=noise).astype(np.float64)
    unsaturated = (np.abs(three) < 0.99) & (np.abs(eight) < 0.99) & (np.abs(mixed) < 0.99)
    assert unsaturated.mean() > 0.5
    expected = (np.arctanh(three) + np.arctanh(eight)) / 2
    assert np.abs(np.arctanh(mixed) - expected)[unsaturated].max() < 1e-3
    assert not np.allclose(mixed, three, atol=1e-2) and not np.allclose(mixed, eight, atol=1e-2)


def test_mixing_a_version_1_file_fails_with_one_line_that_says_to_re_export(generator):
    with pytest.raises(ValueError, match=r"format-version-1 generator, which cannot mix classes: re-export it with cgan-export") as error:
        generator.generate_mixed({3: 1.0}, seed=0)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "weights, message",
    [
        ({3: -0.2, 8: 1.2}, "must be >= 0, got -0.2 for class 3"),
        ({3: 0.5, 10: 0.5}, r"label 10 is out of range: expected an integer in \[0, 10\)"),
        ({-1: 1.0}, "label -1 is out of range"),
        ({"three": 1.0}, r"labels must be integers in \[0, 10\), got 'three'"),
        ({3: float("nan"), 8: 1.0}, "must be finite numbers"),
        ({3: float("inf")}, "must be finite numbers"),
        ({3: 0.7, 8: 0.2}, "must sum to 1 per image, got 0.9"),
        ({3: 7, 8: 3}, "must sum to 1 per image, got 10"),
        ({}, "name no class"),
        ({3: True}, "must be a number"),
        ([], "must be a {class: weight} mapping"),
        (np.ones((2, 9), np.float32) / 9, r"float array \[N, 10\]"),
        (np.eye(10, dtype=np.int64), r"float array \[N, 10\] with N >= 1, got int64"),
    ],
)
def test_bad_weights_are_refused_with_what_is_wrong(weights, message):
    with pytest.raises(ValueError, match=message):
        as_weights(weights, CLASSES)


def test_classes_may_be_named():
    names = tuple("abcdefghij")
    assert np.array_equal(as_weights({"c": 0.25, 9: 0.75}, CLASSES, names), as_weights({2: 0.25, 9: 0.75}, CLASSES))
    with pytest.raises(ValueError, match="class 'c' is weighted twice"):
        as_weights({2: 0.5, "c": 0.5}, CLASSES, names)


def test_weights_off_1_by_float_rounding_are_divided_by_their_sum():
    weights = as_weights(np.array([[0.7, 0.3 + 5e-5] + [0.0] * 8]), CLASSES)
    assert weights.dtype == np.float32 and weights.shape == (1, CLASSES)
    assert weights.sum() == pytest.approx(1.0, abs=1e-7)


def test_morph_goes_from_one_pure_class_to_the_other_on_one_noise(mixer):
    weights = morph_weights(3, 8, 5, CLASSES)
    assert np.array_equal(weights[0], np.eye(CLASSES)[3]) and np.array_equal(weights[-1], np.eye(CLASSES)[8])
    assert np.all(np.diff(weights[:, 8]) > 0) and np.allclose(weights.sum(axis=1), 1)
    frames = morph(mixer, 3, 8, 5, seed=11)
    assert frames.shape == (5, 28, 28)
    assert np.array_equal(frames[0], mixer.generate([3], seed=11)[0])
    noise = morph_noise(3, mixer.nz, 2, seed=11)[:1]
    assert np.array_equal(frames[-1], mixer.generate([8], noise=noise)[0])
    assert np.array_equal(frames, morph(mixer, 3, 8, 5, seed=11))
    assert not np.array_equal(frames, morph(mixer, 3, 8, 5, seed=12))


def test_walk_goes_once_round_a_great_circle_from_the_labels_own_sample(generator):
    noise = walk_noise(5, 8, 4, seed=2)
    start, quarter, half, _ = noise
    assert np.allclose(half, -start, atol=1e-6)  # theta = pi
    assert abs(float(start @ quarter)) < abs(float(start @ start))  # a second direction, not the first one again
    frames = walk(generator, 5, 6, seed=2)  # a version-1 file walks: walks need no class weights
    assert np.array_equal(frames[0], generator.generate([5], seed=2)[0])
    assert len({frame.tobytes() for frame in frames}) == 6
    assert np.array_equal(frames, walk(generator, 5, 6, seed=2))


def test_walk_noise_is_standard_normal_on_every_frame():
    noise = walk_noise(1, 4000, 8, seed=0)  # many dimensions: each frame's own sample statistics
    assert np.allclose(noise.mean(axis=1), 0, atol=0.1)
    assert np.allclose(noise.std(axis=1), 1, atol=0.1)


@pytest.mark.parametrize("frames", [0, 1, -3])
def test_morph_and_walk_need_at_least_two_frames(mixer, frames):
    with pytest.raises(ValueError, match="frames must be an integer >= 2"):
        morph(mixer, 3, 8, frames, seed=0)
    with pytest.raises(ValueError, match="frames must be an integer >= 2"):
        walk(mixer, 3, frames, seed=0)


def test_morph_refuses_a_class_that_does_not_exist(mixer):
    with pytest.raises(ValueError, match="label 12 is out of range"):
        morph(mixer, 3, 12, 4, seed=0)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animations_keep_every_frame_exactly_and_their_timing(mixer, fmt):
    frames = morph(mixer, 1, 7, 6, seed=3)
    data = encode_animation(frames, fmt, fps=10, loop=True)
    image = Image.open(io.BytesIO(data))
    assert image.format == fmt.upper() and image.n_frames == 6
    decoded = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(image)]
    assert all(np.array_equal(got, want) for got, want in zip(decoded, frames, strict=True))
    assert image.info["duration"] == 100 and image.info["loop"] == 0
    assert data == encode_animation(frames, fmt, fps=10, loop=True)


def test_a_gif_that_plays_once_has_no_loop_count(mixer):
    frames = morph(mixer, 1, 7, 3, seed=3)
    assert "loop" not in Image.open(io.BytesIO(encode_animation(frames, "gif", fps=12, loop=False))).info


@pytest.mark.parametrize(
    "fmt, fps, message", [("png", 12, "unknown animation format 'png'"), ("gif", 0, "fps must be"), ("gif", 51, "at most 50")]
)
def test_encode_animation_refuses_what_it_cannot_write(mixer, fmt, fps, message):
    with pytest.raises(ValueError, match=message):
        encode_animation(morph(mixer, 1, 7, 2, seed=0), fmt, fps=fps)
