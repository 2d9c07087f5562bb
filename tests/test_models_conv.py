"""The conv network pair: any channel count and square size from 28 to 64, conditioned on the label."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cgan_train.models import build_models, conv_layout  # noqa: E402

from cgan_runtime.contract import ModelSpec  # noqa: E402


def conv_spec(channels: int, size: int, num_classes: int = 4) -> ModelSpec:
    return ModelSpec(arch="conv", nz=16, num_classes=num_classes, class_names=[f"c{i}" for i in range(num_classes)],
                     image_shape=(channels, size, size))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 30, 32, 48, 64])
def test_conv_pair_maps_noise_and_labels_to_images_and_images_to_one_logit_each(channels, size):
    spec = conv_spec(channels, size)
    generator, discriminator = build_models(spec)
    labels = torch.tensor([0, 1, 2, 3, 1])
    images = generator(torch.randn(5, spec.nz), labels)
    assert images.shape == (5, channels, size, size)
    assert images.abs().max() <= 1.0
    logit, classes = discriminator(images, labels)
    assert logit.shape == (5,) and classes is None


def test_a_classifying_conv_critic_names_classes_from_the_image_alone():
    spec = conv_spec(3, 32)
    torch.manual_seed(0)
    critic = build_models(spec, classify=True)[1]
    image = torch.rand(1, 3, 32, 32).repeat(spec.num_classes, 1, 1, 1) * 2 - 1
    with torch.no_grad():
        logits, classes = critic(image, torch.arange(spec.num_classes))
    assert classes.shape == (spec.num_classes, spec.num_classes)
    assert torch.equal(classes, classes[:1].expand_as(classes))  # the label it is asked about changes nothing
    assert len(set(logits.tolist())) == spec.num_classes  # while the real-or-fake score still depends on it
    with pytest.raises(ValueError, match="conv critic"):
        build_models(ModelSpec(arch="mlp"), classify=True)


def test_conv_generator_output_depends_on_the_label():
    spec = conv_spec(1, 28)
    torch.manual_seed(0)
    generator = build_models(spec)[0]
    generator.train()
    generator(torch.randn(64, spec.nz), torch.arange(64) % spec.num_classes)  # non-trivial BatchNorm statistics
    generator.eval()
    # Labels enter through per-class BatchNorm scale and shift, initialised close to each other.
    with torch.no_grad():
        for norm in generator.norms:
            norm.shift.weight.normal_(0, 0.5)
        noise = torch.randn(1, spec.nz).repeat(spec.num_classes, 1)
        images = generator(noise, torch.arange(spec.num_classes))
    assert all((images[0] - images[k]).abs().max() > 1e-3 for k in range(1, spec.num_classes))


def test_conv_discriminator_score_depends_on_the_label():
    spec = conv_spec(3, 32)
    torch.manual_seed(0)
    discriminator = build_models(spec)[1]
    image = torch.rand(1, 3, 32, 32).repeat(spec.num_classes, 1, 1, 1) * 2 - 1
    with torch.no_grad():
        scores, _ = discriminator(image, torch.arange(spec.num_classes))
    assert len(set(scores.tolist())) == spec.num_classes


def test_above_28_pixels_the_generator_starts_from_a_small_map_and_draws_through_three_blocks():
    # (upsamplings, base side): MNIST's 28 keeps its 7x7 map; larger images start at 4 to 8 pixels.
    assert conv_layout((1, 28, 28)) == (2, 7)
    assert [conv_layout((3, size, size)) for size in (29, 32, 33, 64)] == [(3, 4), (3, 4), (3, 5), (3, 8)]
    generator = build_models(conv_spec(3, 32))[0]
    assert len(generator.convs) == 3


@pytest.mark.parametrize("shape", [(1, 27, 27), (1, 65, 65), (3, 28, 32)])
def test_conv_pair_refuses_sizes_it_was_not_designed_for(shape):
    with pytest.raises(ValueError, match="square images of 28 to 64 pixels"):
        build_models(ModelSpec(arch="conv", image_shape=shape))
