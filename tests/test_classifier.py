"""The evaluation classifier's cache, accuracy gate and input shape, on tiny synthetic data (seconds, no MNIST).

Its accuracy on real MNIST is checked in test_evaluation.py.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cgan_train.classifier import (  # noqa: E402
    Classifier,
    ClassifierError,
    cache_path,
    classifier_for,
    MIN_STEPS,
    default_epochs,
    train_classifier,
)
from cgan_train import classifier as classifier_module  # noqa: E402
from cgan_train.data import LabelledImages  # noqa: E402

EPOCHS = 3  # enough for stripes; the real recipe (default_epochs) is for real data


def stripes(n: int, seed: int, shape: tuple[int, int, int] = (1, 28, 28), dataset: str = "stripes") -> LabelledImages:
    """`n` easy images: label c is a bright band at rows 2c+4 and 2c+5 over faint noise."""
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    for c in range(10):
        images[labels == c, :, 2 * c + 4 : 2 * c + 6] = 255
    return LabelledImages(images, labels, tuple(str(c) for c in range(10)), dataset)


@pytest.fixture(autouse=True)
def unshifted(monkeypatch):
    """The stripes' label is their place: these tests train the unshifted recipe that a large set
    gets (the last test turns a small set's shifts back on)."""
    monkeypatch.setattr(classifier_module, "SMALL_SET_BELOW", 0)


@pytest.fixture(scope="module")
def splits() -> tuple[LabelledImages, LabelledImages]:
    return stripes(256, seed=0), stripes(100, seed=1)


def test_classifier_for_trains_once_then_loads_the_cache_and_leaves_the_global_rng_alone(splits, tmp_path, capsys):
    train, test = splits
    rng = torch.get_rng_state()
    first = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS)
    assert torch.equal(torch.get_rng_state(), rng)  # a GAN run seeded before this stays reproducible
    assert "training the evaluation classifier" in capsys.readouterr().err
    assert len(list(tmp_path.glob("*.pt"))) == 1
    logits, _ = first.embed(test.images)
    assert first.test_accuracy == pytest.approx((logits.argmax(1) == test.labels).float().mean().item())

    again = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS)
    assert capsys.readouterr().err == ""
    assert again.test_accuracy == first.test_accuracy
    assert not again.training
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name


def test_classifier_for_never_reuses_a_cache_made_for_other_data_or_another_recipe(splits, tmp_path):
    train, test = splits
    classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS)
    other = train.images.clone()
    other[0, 0, 0, 0] ^= 1
    classifier_for(LabelledImages(other, train.labels, train.class_names, "stripes"), test,
                   cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS)
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert cache_path(train, test, EPOCHS, tmp_path) != cache_path(train, test, EPOCHS + 1, tmp_path)


def test_a_corrupt_cache_is_reported_and_replaced_by_a_fresh_classifier(splits, tmp_path, capsys):
    train, test = splits
    path = cache_path(train, test, EPOCHS, tmp_path)
    path.write_bytes(b"not a checkpoint")
    model = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS)
    err = capsys.readouterr().err
    assert f"the cached evaluation classifier {path} is unreadable" in err and "training a new one" in err
    assert model.test_accuracy > 0.5
    # The replacement is a good cache: it loads silently.
    assert classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0, epochs=EPOCHS).test_accuracy \
        == model.test_accuracy
    assert capsys.readouterr().err == ""


def test_classifier_for_refuses_and_caches_nothing_below_the_accuracy_floor(splits, tmp_path):
    with pytest.raises(ClassifierError, match="test accuracy"):
        classifier_for(*splits, cache_dir=tmp_path, min_accuracy=1.01, epochs=EPOCHS)
    assert list(tmp_path.iterdir()) == []


def test_mnist_is_held_to_99_percent_and_the_cache_goes_under_cgan_edge_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_EDGE_CACHE", str(tmp_path))
    train, test = stripes(256, 0, dataset="mnist"), stripes(100, 1, dataset="mnist")
    model = classifier_for(train, test, epochs=EPOCHS)  # the stripes are easy enough to pass the gate
    assert model.test_accuracy >= 0.99
    assert [p.name.split("-classifier-")[0] for p in tmp_path.iterdir()] == ["mnist"]


def test_the_classifier_follows_the_data_channels_and_size(tmp_path):
    train, test = stripes(256, 0, shape=(3, 40, 40)), stripes(100, 1, shape=(3, 40, 40))
    model = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0.9, epochs=EPOCHS)
    assert model.image_shape == (3, 40, 40) and model.num_classes == 10
    logits, features = model.embed(test.images)  # uint8 goes in as is
    assert logits.shape == (100, 10) and features.shape == (100, 128)


def test_classifier_embed_gives_logits_and_the_128_d_feature_in_batches():
    model = Classifier().eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, features = model.embed(images, batch_size=2)
    assert logits.shape == (5, 10) and features.shape == (5, 128)
    assert torch.allclose(logits, model(images).detach(), atol=1e-5)


def test_default_epochs_keep_the_mnist_recipe_and_give_small_sets_enough_steps():
    assert default_epochs(60_000) == 3
    assert default_epochs(640) * (640 // 128) >= MIN_STEPS


def test_the_shipped_classifiers_are_in_the_package_with_the_recorded_sha256():
    from cgan_train.checkpoint import file_sha256  # noqa: PLC0415
    from cgan_train.classifier import SHIPPED, SHIPPED_DIR  # noqa: PLC0415

    assert SHIPPED and all(file_sha256(SHIPPED_DIR / name) == digest for name, digest in SHIPPED.items())


def test_a_shipped_classifier_is_used_instead_of_training_and_a_damaged_one_is_refused(splits, tmp_path, monkeypatch):
    from cgan_train import classifier  # noqa: PLC0415
    from cgan_train.checkpoint import file_sha256  # noqa: PLC0415

    train, test = splits
    made = classifier_for(train, test, cache_dir=tmp_path / "made", epochs=EPOCHS)
    shipped = cache_path(train, test, EPOCHS, tmp_path / "made")
    monkeypatch.setattr(classifier, "SHIPPED_DIR", shipped.parent)
    monkeypatch.setattr(classifier, "SHIPPED", {shipped.name: file_sha256(shipped)})
    loaded = classifier_for(train, test, cache_dir=tmp_path / "empty", epochs=EPOCHS)
    assert loaded.test_accuracy == made.test_accuracy and not (tmp_path / "empty").exists()
    monkeypatch.setattr(classifier, "SHIPPED", {shipped.name: "0" * 64})
    with pytest.raises(ClassifierError, match="missing or damaged"):
        classifier_for(train, test, cache_dir=tmp_path / "empty", epochs=EPOCHS)


def test_a_small_set_trains_its_classifier_on_shifted_images_and_a_large_one_does_not(splits, monkeypatch):
    shifted = []
    monkeypatch.setattr(classifier_module, "shift", lambda images, ints: shifted.append(len(images)) or images)
    train, _ = splits
    train_classifier(train, epochs=1)
    assert shifted == []  # as large a set as SMALL_SET_BELOW (0 here): plain batches
    monkeypatch.setattr(classifier_module, "SMALL_SET_BELOW", len(train) + 1)
    train_classifier(train, epochs=1)
    assert shifted == [128, 128]  # every batch of the epoch
