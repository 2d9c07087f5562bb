"""Generators and discriminators, one pair per network name.

Every generator maps (noise float [N, nz], label int64 [N]) to images in [-1, 1]
of shape [N, C, H, W]; every discriminator maps (image, label) to a logit [N].
Discriminators return logits rather than probabilities so that every loss
(BCE included, through BCE-with-logits) sees the same interface.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cgan_runtime.contract import ModelSpec


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


# --- mlp: the seed's model (Mirza & Osindero's MLP CGAN as in PyTorch-GAN) ---------


class MlpGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.image_shape = spec.image_shape
        self.label_emb = nn.Embedding(spec.num_classes, spec.num_classes)

        def block(n_in: int, n_out: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(_lrelu())
            return layers

        self.net = nn.Sequential(
            *block(spec.nz + spec.num_classes, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, math.prod(spec.image_shape)),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.label_emb(label), noise], dim=1)
        return self.net(x).view(-1, *self.image_shape)


class MlpDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(spec.num_classes, spec.num_classes)
        self.net = nn.Sequential(
            nn.Linear(math.prod(spec.image_shape) + spec.num_classes, 512),
            _lrelu(),
            nn.Linear(512, 512),
            nn.Dropout(0.4),
            _lrelu(),
            nn.Linear(512, 512),
            nn.Dropout(0.4),
            _lrelu(),
            nn.Linear(512, 1),
        )

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image.flatten(1), self.label_emb(label)], dim=1)
        return self.net(x).squeeze(1)


def init_seed_weights(module: nn.Module) -> None:
    """The seed's initialisation: weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# Network pairs by name; the name travels as ModelSpec.arch. Training recipes
# (cgan_train.config.RECIPES) choose a pair and its hyper-parameters.
ARCHS = {
    "mlp": (MlpGenerator, MlpDiscriminator),
}


def build_models(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    """A fresh (generator, discriminator) pair for `spec.arch`."""
    if spec.arch not in ARCHS:
        raise ValueError(f"unknown arch '{spec.arch}' (choose from {', '.join(ARCHS)})")
    g_cls, d_cls = ARCHS[spec.arch]
    g, d = g_cls(spec), d_cls(spec)
    g.apply(init_seed_weights)
    d.apply(init_seed_weights)
    return g, d


def build_generator(spec: ModelSpec) -> nn.Module:
    return build_models(spec)[0]
