"""The MNIST classifier that evaluation measures generators with, trained once and cached.

Its 128-d penultimate layer is the feature space for FID: small enough to
estimate a covariance from a few thousand samples, and trained on the data we
compare against (Inception features are a poor fit for 28x28 digits).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from cgan_runtime.errors import UserError
from cgan_runtime.files import atomic_write

from .data import load_mnist, to_model_range

# Bump when the architecture or the training recipe changes, so old caches are ignored.
CLASSIFIER_VERSION = 1
MIN_TEST_ACCURACY = 0.99
FEATURE_DIM = 128

Split = tuple[torch.Tensor, torch.Tensor]  # (images uint8 [N, 28, 28], labels int64 [N])


class MnistClassifier(nn.Module):
    """conv16-conv32 (5x5, batch norm, 2x2 pooling) -> 128-d feature -> logits; input in [-1, 1].

    The cheapest net we found that reliably clears 99% test accuracy in three
    epochs on CPU; batch norm is what buys the margin above 99%.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        # Measured on the MNIST test set when trained; travels with the cached weights.
        self.test_accuracy = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, features) for float images [N, 1, 28, 28] in [-1, 1], batched, returned on the CPU."""
        device = next(self.parameters()).device
        logits, features = [], []
        for batch in images.split(batch_size):
            f = self.features(batch.to(device, torch.float32))
            features.append(f.cpu())
            logits.append(self.head(f).cpu())
        return torch.cat(logits), torch.cat(features)


def load_or_train_classifier(
    data_dir: str | Path, cache_dir: Path | None = None, device: str | torch.device = "cpu", download: bool = False
) -> MnistClassifier:
    """The cached classifier for the MNIST in `data_dir`, trained (and cached) on first use."""
    train = load_mnist(data_dir, train=True, download=download)
    test = load_mnist(data_dir, train=False, download=download)
    return classifier_for(train, test, cache_dir=cache_dir, device=device)


def classifier_for(
    train: Split,
    test: Split,
    cache_dir: Path | None = None,
    device: str | torch.device = "cpu",
    min_accuracy: float = MIN_TEST_ACCURACY,
) -> MnistClassifier:
    """Load the classifier cached for exactly this data, or train, check and cache one.

    Raises UserError when a freshly trained classifier misses `min_accuracy`:
    scores measured with a weak classifier would mislead, so none is cached.
    """
    num_classes = int(train[1].max()) + 1
    path = _cache_root(cache_dir) / f"mnist-classifier-v{CLASSIFIER_VERSION}-{_data_hash(train, test)}.pt"
    model = _seeded_classifier(num_classes)
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        model.test_accuracy = float(saved["test_accuracy"])
        return model.to(device).eval()

    print(f"training the evaluation classifier on {len(train[0]):,} images (once, cached in {path.parent})",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    _fit(model.to(device), train)
    model.eval()
    logits, _ = model.embed(to_model_range(test[0]))
    model.test_accuracy = (logits.argmax(1) == test[1]).float().mean().item()
    print(f"evaluation classifier: {model.test_accuracy:.2%} test accuracy after "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    if model.test_accuracy < min_accuracy:
        raise UserError(f"the evaluation classifier reached only {model.test_accuracy:.2%} test accuracy "
                        f"(needs {min_accuracy:.0%}); its scores would be unreliable")

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
             "test_accuracy": model.test_accuracy}
    atomic_write(path, lambda f: torch.save(state, f))
    return model


def _fit(model: MnistClassifier, train: Split, epochs: int = 3, batch_size: int = 128, lr: float = 3e-3) -> None:
    """Adam with a one-cycle schedule over the in-memory training set (no DataLoader: it all fits)."""
    device = next(model.parameters()).device
    images, labels = to_model_range(train[0]).to(device), train[1].to(device)
    steps_per_epoch = max(len(images) // batch_size, 1)
    order = torch.Generator().manual_seed(0)  # its own stream, like the weights below
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(images), generator=order).to(device)
        for idx in perm[: steps_per_epoch * batch_size].view(steps_per_epoch, -1):
            loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()


def _seeded_classifier(num_classes: int) -> MnistClassifier:
    """Fresh weights from a fixed seed, drawn in a forked RNG so that building (or
    loading) a classifier never moves the global random stream a GAN run relies on."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MnistClassifier(num_classes)


def _cache_root(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("CGAN_EDGE_CACHE") or Path.home() / ".cache" / "cgan-edge")


def _data_hash(train: Split, test: Split) -> str:
    """A short digest of both splits: another dataset (or a subset) never reuses a cached classifier."""
    digest = hashlib.sha256()
    for tensor in (*train, *test):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]
