"""The generator shipped in assets/: present, intact, and the model the runtime expects."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

from cgan_runtime import Generator
from cgan_runtime.contract import KEY_PRECISION, KEY_RECIPE, MNIST_CLASS_NAMES
from cgan_runtime.default_model import ASSETS_PACKAGE, MANIFEST, default_model_path


def test_shipped_model_matches_the_sha256_in_its_manifest():
    manifest = json.loads((files(ASSETS_PACKAGE) / MANIFEST).read_text())
    path = default_model_path()
    assert path.name == manifest["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]


def test_shipped_model_is_a_full_precision_mnist_generator():
    gen = Generator(provider="cpu")
    assert gen.path == default_model_path()
    assert (gen.num_classes, gen.class_names, gen.image_shape) == (10, MNIST_CLASS_NAMES, (1, 28, 28))
    assert gen.spec.dataset == "mnist" and gen.spec.output_range == (-1.0, 1.0)
    assert gen.metadata[KEY_PRECISION] == "fp32"


def test_shipped_model_is_the_conv_recipes_generator_with_class_weights():
    gen = Generator(provider="cpu")
    assert gen.spec.arch == "conv" and gen.metadata[KEY_RECIPE] == "conv"
    assert gen.can_mix


def test_shipped_model_fits_the_edge_size_budget():
    assert default_model_path().stat().st_size <= 8_000_000


def test_shipped_model_draws_a_different_digit_for_each_seed():
    gen = Generator(provider="cpu")
    fives = gen.generate([5] * 8, seed=0)
    assert fives.shape == (8, 28, 28) and fives.dtype.name == "uint8"
    distinct = {image.tobytes() for image in fives}
    assert len(distinct) == 8
