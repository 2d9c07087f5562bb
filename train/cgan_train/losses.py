"""Adversarial losses on discriminator logits, selected by `--loss`, and the critic's class loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LOSSES


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        # The seed's (real + fake) / 2, on logits: same value as Sigmoid + BCELoss, stabler.
        return 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    raise ValueError(f"unknown loss '{kind}' (choose from {', '.join(LOSSES)})")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        # Non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))).
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown loss '{kind}' (choose from {', '.join(LOSSES)})")


def classification_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The critic's class loss (config.CLASS_LOSS): cross-entropy of its class logits against the labels.

    The trainer teaches the critic on real images only and the generator on its fakes. AC-GAN's
    critic also learns the fakes' labels, which rewards it for reading a poor fake as the class
    it was asked for: the classes it learns are then partly the generator's, not the data's.
    """
    return F.cross_entropy(class_logits, labels)


def mode_seeking_penalty(images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """MSGAN's regulariser (Mao et al. 2019), for a batch whose pairs (2k, 2k+1) share labels.

    A conditional generator can satisfy its critic by ignoring the noise and
    drawing one digit per label; rewarding the ratio of image distance to
    noise distance between same-label pairs makes different noise mean a
    different digit. Pairs are neighbours, so any even slice of a batch (one
    process's share under torchrun) holds whole pairs.
    """
    pairs = images.shape[0] // 2
    first, second = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
    image_gap = (images[first] - images[second]).abs().flatten(1).mean(1)
    noise_gap = (noise[first] - noise[second]).abs().mean(1)
    return 1.0 / ((image_gap / noise_gap).mean() + 1e-5)
