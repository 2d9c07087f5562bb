"""Adversarial losses on discriminator logits, selected by `--loss`."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


LOSSES = ("bce", "hinge")
