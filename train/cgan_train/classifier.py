"""The classifier that evaluation measures generators with: trained once per data set and cached.

Its 128-d penultimate layer is the feature space for FID: small enough to
estimate a covariance from a few thousand samples, and trained on the data we
compare against (Inception features are a poor fit for 28x28 digits). Its input
follows the data: channels and size (28 to 64 pixels) come from the images.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from cgan_runtime.files import atomic_write

from .augment import shift
from .checkpoint import file_sha256
from .config import SMALL_SET_BELOW
from .data import LabelledImages, to_model_range

# Bump when the architecture or the training recipe changes, so old caches are ignored.
CLASSIFIER_VERSION = 2
# The gate a freshly trained classifier must pass, by data set; other data is only warned about.
MIN_TEST_ACCURACY = {"mnist": 0.99}
WARN_TEST_ACCURACY = 0.9
FEATURE_DIM = 128
MIN_EPOCHS = 3  # MNIST's recipe: 3 epochs of 60,000 images
MIN_STEPS = 500  # small sets repeat epochs up to this many steps
BATCH_SIZE = 128

# Classifiers shipped with the package (cgan_train/classifiers/), by cache file name, with their
# sha256: the standard sets' figures are then the same on every machine. Others are trained and cached.
SHIPPED_DIR = Path(__file__).parent / "classifiers"
SHIPPED: dict[str, str] = {
    # MNIST's training and test splits, 3 epochs: 99.39% test accuracy (seed 0, one CPU thread).
    "mnist-classifier-v2-b3588bb1d7d4.pt": "f71f63aaa2cd1c54ddf43898264dd59ce000355da27bc27b0a04d9b2452461fa",
}

# (what, done, total): called as work advances, for a progress display.
ProgressFn = Callable[[str, int, int], None]


class ClassifierError(RuntimeError):
    """The freshly trained classifier is too weak to measure with; nothing was cached."""


class Classifier(nn.Module):
    """conv16-conv32 (5x5, batch norm, 2x2 pooling) -> 128-d feature -> logits; input in [-1, 1].

    The cheapest net we found that reliably clears 99% MNIST test accuracy in
    three epochs on CPU; batch norm is what buys the margin above 99%. For
    1x28x28 input it is exactly the MNIST classifier measured in the README.
    """

    def __init__(self, num_classes: int = 10, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        c, h, w = image_shape
        if min(h, w) < 4:
            raise ValueError(f"the evaluation classifier needs images of at least 4x4 pixels, got {h}x{w}")
        self.image_shape = tuple(image_shape)
        self.features = nn.Sequential(
            nn.Conv2d(c, 16, 5, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        # Measured on the test split when trained; travels with the cached weights.
        self.test_accuracy = float("nan")

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 1000,
              progress: ProgressFn | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, features) for float images [N, C, H, W] in [-1, 1] (or uint8), batched, on the CPU."""
        device = next(self.parameters()).device
        logits, features = [], []
        for batch in images.split(batch_size):
            batch = to_model_range(batch) if batch.dtype == torch.uint8 else batch
            f = self.features(batch.to(device, torch.float32))
            features.append(f.cpu())
            logits.append(self.head(f).cpu())
            if progress is not None:
                progress("scoring images", sum(len(x) for x in logits), len(images))
        return torch.cat(logits), torch.cat(features)


def classifier_for(
    train: LabelledImages,
    test: LabelledImages,
    cache_dir: Path | None = None,
    device: str | torch.device = "cpu",
    min_accuracy: float | None = None,
    epochs: int | None = None,
    progress: ProgressFn | None = None,
) -> Classifier:
    """Load the classifier cached for exactly this data, or train, check and cache one.

    `epochs` defaults to the recipe (MIN_EPOCHS, more for small sets); a
    cheaper classifier gets its own cache entry. Raises ClassifierError when a
    fresh classifier misses `min_accuracy` (default: MIN_TEST_ACCURACY for the
    set): scores measured with a weak classifier would mislead, so none is cached.
    """
    epochs = epochs or default_epochs(len(train))
    path = cache_path(train, test, epochs, cache_dir)
    model = _load_shipped(path.name, train) or _load_cached(path, train)
    if model is None:
        model = _train_and_measure(train, test, epochs, device, progress, path)
        _check_accuracy(model, train.dataset, min_accuracy)
        _save(model, path)
    return model.to(device).eval()


def _load_shipped(name: str, train: LabelledImages) -> Classifier | None:
    """The package's own classifier for exactly this data, when it ships one (checked by sha256)."""
    if name not in SHIPPED:
        return None
    path = SHIPPED_DIR / name
    if not path.is_file() or file_sha256(path) != SHIPPED[name]:
        raise ClassifierError(f"the shipped evaluation classifier {path} is missing or damaged (sha256 differs); "
                              "reinstall cgan-edge")
    return _load_cached(path, train)


def _load_cached(path: Path, train: LabelledImages) -> Classifier | None:
    """The classifier cached at `path`, or None when there is none or it is damaged (then it is retrained)."""
    if not path.is_file():
        return None
    model = _seeded_classifier(train.num_classes, train.image_shape)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        model.test_accuracy = float(saved["test_accuracy"])
        return model
    except Exception as exc:  # any damage (truncated, not a checkpoint, wrong shapes): train anew
        print(f"the cached evaluation classifier {path} is unreadable ({str(exc).splitlines()[0][:120]}); "
              "training a new one", file=sys.stderr, flush=True)
        return None


def _train_and_measure(train: LabelledImages, test: LabelledImages, epochs: int, device: str | torch.device,
                       progress: ProgressFn | None, path: Path) -> Classifier:
    """A fresh classifier trained on `train`, with its accuracy on `test` recorded."""
    print(f"training the evaluation classifier on {len(train):,} images (once, cached in {path.parent})",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    model = _seeded_classifier(train.num_classes, train.image_shape).to(device)
    _fit(model, train, epochs, progress if sys.stderr.isatty() else _log_lines(progress))
    model.eval()
    logits, _ = model.embed(test.images)
    model.test_accuracy = (logits.argmax(1) == test.labels).float().mean().item()
    print(f"evaluation classifier: {model.test_accuracy:.2%} test accuracy after "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return model


def _check_accuracy(model: Classifier, dataset: str, min_accuracy: float | None) -> None:
    """ClassifierError below the gate (MIN_TEST_ACCURACY for the set unless `min_accuracy`); a warning when coarse."""
    gate = MIN_TEST_ACCURACY.get(dataset, 0.0) if min_accuracy is None else min_accuracy
    if model.test_accuracy < gate:
        raise ClassifierError(f"the evaluation classifier reached only {model.test_accuracy:.2%} test accuracy "
                              f"(needs {gate:.0%}); its scores would be unreliable")
    if model.test_accuracy < WARN_TEST_ACCURACY:
        print(f"warning: the evaluation classifier reaches only {model.test_accuracy:.2%} on {dataset}'s "
              "test images; its label accuracy and FIDs are coarse", file=sys.stderr, flush=True)


def _save(model: Classifier, path: Path) -> None:
    """Weights and measured accuracy, written atomically: a cache is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
             "test_accuracy": model.test_accuracy}
    atomic_write(path, lambda f: torch.save(state, f))


def default_epochs(n: int) -> int:
    """MIN_EPOCHS, or as many as it takes a small set to reach MIN_STEPS steps."""
    return max(MIN_EPOCHS, math.ceil(MIN_STEPS / max(n // BATCH_SIZE, 1)))


def cache_path(train: LabelledImages, test: LabelledImages, epochs: int, cache_dir: Path | None = None) -> Path:
    """The cache file for a classifier of this data and recipe: another data set (or a subset) never reuses one."""
    # A shifted recipe names itself; MNIST's (unshifted) name is what its shipped file is called.
    recipe = f"{train.image_shape} {epochs}" + (" shifted" if _shifted(len(train)) else "")
    digest = hashlib.sha256(recipe.encode())
    for tensor in (train.images, train.labels, test.images, test.labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", train.dataset).strip("-") or "data"
    return _cache_root(cache_dir) / f"{slug}-classifier-v{CLASSIFIER_VERSION}-{digest.hexdigest()[:12]}.pt"


def _fit(model: Classifier, train: LabelledImages, epochs: int, progress: ProgressFn | None,
         lr: float = 3e-3) -> None:
    """Adam with a one-cycle schedule over the in-memory training set (no DataLoader: it all fits)."""
    device = next(model.parameters()).device
    images, labels = train.images.to(device), train.labels.to(device)
    steps_per_epoch = max(len(images) // BATCH_SIZE, 1)
    total = epochs * steps_per_epoch
    order = torch.Generator().manual_seed(0)  # its own stream, like the weights below
    shifts = torch.Generator().manual_seed(1) if _shifted(len(images)) else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total)
    model.train()
    done = 0
    for _ in range(epochs):
        perm = torch.randperm(len(images), generator=order).to(device)
        for idx in perm[: steps_per_epoch * BATCH_SIZE].view(steps_per_epoch, -1):
            batch = to_model_range(images[idx])
            if shifts is not None:
                batch = shift(batch, lambda k: torch.randint(0, k, (len(batch), 1, 1), generator=shifts).to(device))
            loss = nn.functional.cross_entropy(model(batch), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            done += 1
            if progress is not None:
                progress("training the evaluation classifier", done, total)


def _shifted(n_train: int) -> bool:
    """Whether the recipe shifts every batch by up to an eighth of the side (augment.shift): below
    SMALL_SET_BELOW images, which are otherwise memorised rather than learnt (trained on 3 x 90 colour
    shapes, 900 fresh ones read 86% right without shifts, 99.4% with)."""
    return n_train < SMALL_SET_BELOW


def _log_lines(progress: ProgressFn | None, every: float = 15.0) -> ProgressFn:
    """`progress`, plus a line on stderr every `every` seconds: a log has no live bar to watch."""
    last = [time.perf_counter()]

    def update(what: str, done: int, total: int) -> None:
        if progress is not None:
            progress(what, done, total)
        if time.perf_counter() - last[0] >= every or done == total:
            last[0] = time.perf_counter()
            print(f"{what}: step {done}/{total}", file=sys.stderr, flush=True)

    return update


def _seeded_classifier(num_classes: int, image_shape: tuple[int, int, int]) -> Classifier:
    """Fresh weights from a fixed seed, drawn in a forked RNG so that building (or
    loading) a classifier never moves the global random stream a GAN run relies on."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return Classifier(num_classes, image_shape)


def _cache_root(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("CGAN_EDGE_CACHE") or Path.home() / ".cache" / "cgan-edge")


def train_classifier(train: LabelledImages, epochs: int | None = None, device: str | torch.device = "cpu",
                     progress: ProgressFn | None = None) -> Classifier:
    """A fresh classifier trained on `train` by the evaluation recipe (`epochs` as `classifier_for`'s),
    neither measured nor cached: for scores that train one on other images (`cas`)."""
    model = _seeded_classifier(train.num_classes, train.image_shape).to(device)
    _fit(model, train, epochs or default_epochs(len(train)), progress)
    return model.eval()
