"""Morphs and walks of the SHIPPED model, read by the package's evaluation classifier.

A morph must start as its first class and end as its second; a walk must stay
its label all the way round. The pictures are classified as cgan-gen writes
them (uint8), with the session's one classifier (`mnist_classifier` in conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cgan_runtime import Generator  # noqa: E402
from cgan_runtime.animation import morph, walk  # noqa: E402

MIN_READ_AS_LABEL = 0.95  # the bar for frames that must read as a given class


@pytest.fixture(scope="module")
def shipped() -> Generator:
    return Generator(provider="cpu")


def read(classifier, frames: np.ndarray) -> np.ndarray:
    """The classifier's label for each uint8 grey picture [N, H, W], mapped back to [-1, 1]."""
    logits, _ = classifier.embed(torch.from_numpy(frames).float().div(127.5).sub(1.0).unsqueeze(1))
    return logits.argmax(1).numpy()


def test_morphs_of_the_shipped_model_start_and_end_on_their_classes(mnist_classifier, shipped):
    pairs = [(a, b) for a in range(shipped.num_classes) for b in range(shipped.num_classes) if a != b]
    ends = np.stack([morph(shipped, a, b, frames=2, seed=100 + i) for i, (a, b) in enumerate(pairs)])
    first, last = read(mnist_classifier, ends[:, 0]), read(mnist_classifier, ends[:, 1])
    starts, targets = np.array(pairs).T
    assert (first == starts).mean() >= MIN_READ_AS_LABEL
    assert (last == targets).mean() >= MIN_READ_AS_LABEL


def test_the_readme_morph_reads_as_3_then_8(mnist_classifier, shipped):
    frames = morph(shipped, 3, 8, frames=12, seed=1)  # the README's strip
    labels = read(mnist_classifier, frames)
    assert labels[0] == 3 and labels[-1] == 8
    # It changes class once, somewhere in between, rather than flickering.
    assert np.count_nonzero(np.diff(labels)) <= 2


def test_walks_of_the_shipped_model_stay_their_label(mnist_classifier, shipped):
    labels = np.arange(shipped.num_classes)
    frames = np.concatenate([walk(shipped, int(label), frames=24, seed=200 + label) for label in labels])
    assert (read(mnist_classifier, frames) == np.repeat(labels, 24)).mean() >= MIN_READ_AS_LABEL
    # And the handwriting really moves: no two frames of a walk are the same picture.
    assert len({frame.tobytes() for frame in frames}) == len(frames)
