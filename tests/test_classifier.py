"""The evaluation classifier's cache and accuracy gate, on a tiny synthetic dataset (seconds, no MNIST).

Its accuracy on real MNIST is checked in test_evaluation.py, which trains it once.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cgan_runtime.errors import UserError  # noqa: E402
from cgan_train import classifier  # noqa: E402
from cgan_train.classifier import MnistClassifier, classifier_for, load_or_train_classifier  # noqa: E402

pytestmark = pytest.mark.torch


def stripes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` easy 28x28 "digits": label c is a bright band at rows 2c+4 and 2c+5 over faint noise."""
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    for c in range(10):
        images[labels == c, 2 * c + 4 : 2 * c + 6] = 255
    return images, labels


@pytest.fixture(scope="module")
def splits() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    return stripes(256, seed=0), stripes(100, seed=1)


def test_classifier_for_trains_once_then_loads_the_cache_and_leaves_the_global_rng_alone(splits, tmp_path, capsys):
    train, test = splits
    rng = torch.get_rng_state()
    first = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0)
    assert torch.equal(torch.get_rng_state(), rng)  # a GAN run seeded before this stays reproducible
    assert "training the evaluation classifier" in capsys.readouterr().err
    assert len(list(tmp_path.glob("*.pt"))) == 1

    again = classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0)
    assert capsys.readouterr().err == ""
    assert again.test_accuracy == first.test_accuracy
    assert not again.training
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name


def test_classifier_for_never_reuses_a_cache_made_for_other_data(splits, tmp_path):
    train, test = splits
    classifier_for(train, test, cache_dir=tmp_path, min_accuracy=0)
    other = train[0].clone()
    other[0, 0, 0] ^= 1
    classifier_for((other, train[1]), test, cache_dir=tmp_path, min_accuracy=0)
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_classifier_for_refuses_and_caches_nothing_below_the_accuracy_floor(splits, tmp_path):
    with pytest.raises(UserError, match="test accuracy"):
        classifier_for(*splits, cache_dir=tmp_path, min_accuracy=1.01)
    assert list(tmp_path.iterdir()) == []


def test_load_or_train_classifier_caches_under_cgan_edge_cache(splits, tmp_path, monkeypatch):
    # Also holds it to the real 99% gate: the stripes are easy enough to pass it.
    monkeypatch.setenv("CGAN_EDGE_CACHE", str(tmp_path))
    monkeypatch.setattr(classifier, "load_mnist", lambda data_dir, train, download: splits[0 if train else 1])
    model = load_or_train_classifier("no-such-dir")
    assert model.test_accuracy >= 0.99
    assert [p.suffix for p in tmp_path.iterdir()] == [".pt"]


def test_classifier_embed_gives_logits_and_the_128_d_feature_in_batches():
    model = MnistClassifier().eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    logits, features = model.embed(images, batch_size=2)
    assert logits.shape == (5, 10) and features.shape == (5, 128)
    assert torch.allclose(logits, model(images).detach(), atol=1e-5)
