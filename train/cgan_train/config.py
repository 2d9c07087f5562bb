"""Training hyper-parameters. The model's shape lives in `cgan_runtime.contract.ModelSpec`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from cgan_runtime.contract import ModelSpec

from .losses import LOSSES
from .models import ARCHS


# What `--arch` selects: a network pair (models.ARCHS) and its hyper-parameters.
# `mlp` is the seed's recipe, untouched. `edge`, the default and the recipe of
# the shipped model, trains the same networks longer and samples from an
# exponential moving average of the generator's weights (with BatchNorm
# statistics recomputed for it), which is what lifts eval-mode quality; see
# assets/README.md for the measurements. Command-line flags override a field.
RECIPES: dict[str, dict[str, Any]] = {
    "mlp": {"network": "mlp", "loss": "bce", "nz": 100, "epochs": 30, "batch_size": 64, "lr": 2e-4,
            "beta1": 0.5, "ema": 0.0},
    "edge": {"network": "mlp", "loss": "bce", "nz": 100, "epochs": 75, "batch_size": 64, "lr": 2e-4,
             "beta1": 0.5, "ema": 0.999},
    # The DCGAN-shaped conv pair (cBN generator, spectral-norm projection critic) with hinge
    # loss and a weight average, SNGAN's settings for this size of network.
    "conv": {"network": "conv", "loss": "hinge", "nz": 100, "epochs": 15, "batch_size": 64, "lr": 2e-4,
             "beta1": 0.5, "ema": 0.999},
}
DEFAULT_ARCH = "edge"


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "mlp"  # the recipe's name (RECIPES)
    network: str = "mlp"  # the network pair (models.ARCHS), recorded as ModelSpec.arch
    loss: str = "bce"
    nz: int = 100
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = 0.0  # decay of the generator's weight average; 0 = off
    diversity: float = 0.0  # weight of the mode-seeking penalty; 0 = off
    seed: int = 0
    max_steps: int | None = None
    train_limit: int | None = None  # use only the first N training images (smoke runs)
    evaluate: bool = True  # score each epoch to choose best.pt (trains the classifier once)

    def __post_init__(self) -> None:
        checks = [
            (self.arch in RECIPES, f"unknown arch '{self.arch}' (choose from {', '.join(RECIPES)})"),
            (self.network in ARCHS, f"unknown network '{self.network}' (choose from {', '.join(ARCHS)})"),
            (self.loss in LOSSES, f"unknown loss '{self.loss}' (choose from {', '.join(LOSSES)})"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"learning rate must be > 0, got {self.lr}"),
            (0 <= self.ema < 1, f"ema decay must be in [0, 1), got {self.ema}"),
            (self.diversity >= 0, f"diversity weight must be >= 0, got {self.diversity}"),
            (self.nz >= 1, f"nz must be >= 1, got {self.nz}"),
            (self.max_steps is None or self.max_steps >= 1, f"max steps must be >= 1, got {self.max_steps}"),
            (self.train_limit is None or self.train_limit >= 1, f"train limit must be >= 1, got {self.train_limit}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def for_arch(cls, arch: str = DEFAULT_ARCH, **overrides: Any) -> "TrainConfig":
        """The arch's recipe with the given fields overridden (None means keep the recipe)."""
        if arch not in RECIPES:
            raise ValueError(f"unknown arch '{arch}' (choose from {', '.join(RECIPES)})")
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(arch=arch, **{**RECIPES[arch], **given})

    def model_spec(self) -> ModelSpec:
        return ModelSpec(arch=self.network, nz=self.nz)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
