"""Training hyper-parameters. The model's shape lives in `cgan_runtime.contract.ModelSpec`.

torch-free, so `cgan-train --help` can list the recipes on an install without torch.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from cgan_runtime.contract import ModelSpec

from .sources import DEFAULT_DATA_DIR, DataSource

if TYPE_CHECKING:  # cgan_train.data imports torch
    from .data import LabelledImages

LOSSES = ("bce", "hinge")

# What a recipe leaves out takes these values (every recipe so far agrees on them).
_RECIPE_BASE: dict[str, Any] = {"beta2": 0.999, "diversity": 0.0, "critic_width": None, "min_steps": None}

# What `--recipe` selects: a network pair (models.NETWORKS) and its hyper-parameters;
# the only place recipe values are written. `mlp` is the seed's recipe, untouched.
# `edge` trains the same networks longer and samples from an exponential moving
# average of the generator's weights (with BatchNorm statistics recomputed for
# it), which is what lifts eval-mode quality. `conv`, the default and the recipe
# of the shipped model, is the DCGAN-shaped pair (label in every generator block,
# spectral-norm projection critic) with hinge loss and a weight average, SNGAN's
# settings for this size of network, and a light mode-seeking penalty.
# A run lasts `epochs` epochs or `min_steps` steps, whichever is longer: a large set
# (MNIST: 28 epochs, 26,000 steps) is sized by epochs, a small one by steps (300 images:
# 4,000 conv steps, 1,000 epochs; 32x32 colour shapes still gained label accuracy between
# steps 2,000 and 4,000). An explicit --epochs replaces the rule.
# assets/README.md has the measurements behind each; command-line flags override a field.
RECIPES: dict[str, dict[str, Any]] = {
    name: {**recipe, **{k: v for k, v in _RECIPE_BASE.items() if k not in recipe}}
    for name, recipe in {
        "mlp": {"network": "mlp", "loss": "bce", "nz": 100, "epochs": 30, "batch_size": 64, "lr": 2e-4,
                "beta1": 0.5, "ema": 0.0},
        "edge": {"network": "mlp", "loss": "bce", "nz": 100, "epochs": 75, "batch_size": 64, "lr": 2e-4,
                 "beta1": 0.5, "ema": 0.999, "min_steps": 2000},
        # A light mode-seeking penalty (0.1) widens each label's styles: within-label FID 13.0
        # after 28 epochs against 15.2 for the no-penalty run's best epoch (weight 1 drew wrong digits).
        "conv": {"network": "conv", "loss": "hinge", "nz": 100, "epochs": 28, "batch_size": 64, "lr": 2e-4,
                 "beta1": 0.5, "ema": 0.999, "diversity": 0.1, "min_steps": 4000},
    }.items()
}
DEFAULT_RECIPE = "conv"

# What `--resume` may change: how long to train, whether to score epochs, and where the
# named sets are stored (the same data in another place). Everything else defines the
# run; changing it would make a different run.
PLAN_FIELDS = ("epochs", "min_steps", "max_steps", "evaluate", "data_dir")
# What the run records about its data rather than chooses: checked against the data itself on --resume.
RECORDED_FIELDS = ("data_fingerprint",)

# A set of fewer training images than this is small. The conv recipe trains it for small data by
# default: the critic sees differentiable augmentations (augment.py; without them it memorises the set,
# DiffAugment) and names each real image's class with weight CLASS_LOSS (see `class_loss`). The
# evaluation classifier shifts the images of a set this small too (classifier.py).
SMALL_SET_BELOW = 10_000
# The class loss's weight on a small set. The critic also learns to name the class of each real image
# it sees, and the generator is rewarded for images it names right (AC-GAN, Odena et al. 2017): on 3 x
# 100 colour 32x32 shapes, cgan-eval's label accuracy after the recipe's 4,000 steps rose from 67.0%
# to 99.6% (seed 0; seed 1: 46.7% to 97.4%). Large sets leave it off: MNIST's recipe is measured without it.
CLASS_LOSS = 1.0

# A conv run planned shorter than this many steps starts fast: both optimisers take FAST_LR times
# the recipe's learning rate with Adam betas FAST_BETAS, and the generator's label tables start
# wide (models.widen_label_tables). Adam moves a weight by about its learning rate a step, so from
# the recipe's small start the classes stay alike for thousands of steps (300 MNIST steps: label
# accuracy 12.6% -> 65.1%). Long runs keep the recipe: on the full MNIST run the fast settings
# cost variety within each label (docs/performance.md). Small sets keep it too: augmented, with the
# class loss, the fast critic of 3 x 100 colour shapes stayed at chance (loss 3.1 after 324 steps),
# where the recipe's reached 45% by step 1,000.
FAST_START_BELOW = 2_000
FAST_LR = 5.0
FAST_BETAS = (0.0, 0.9)

# Training seeds are hashed (trainer.derive_seed) and feed torch, which takes 64 bits; generation
# seeds are another range, the portable noise rule's (cgan_runtime.inputs.SEED_LIMIT, 2**53).
TRAINING_SEED_LIMIT = 2**64


@dataclass(frozen=True)
class TrainConfig:
    # The recipe's fields have no defaults here: `for_recipe` fills them from RECIPES.
    recipe: str  # the recipe's name (RECIPES); written into the checkpoint and the ONNX metadata
    network: str  # the network pair (models.NETWORKS), recorded as ModelSpec.arch
    loss: str
    nz: int
    epochs: int
    batch_size: int  # the global batch: split over the processes under torchrun
    lr: float
    beta1: float
    beta2: float
    ema: float  # decay of the generator's weight average; 0 = off
    diversity: float  # weight of the mode-seeking penalty; 0 = off
    # The discriminator's width (the MLP's hidden units, the conv critic's first channels); None = the
    # network's own. Training only: the exported generator is the same whatever its critic.
    critic_width: int | None
    # The run's length in steps at least (None: `epochs` alone); see RECIPES.
    min_steps: int | None
    seed: int = 0
    max_steps: int | None = None
    train_limit: int | None = None  # use only the first N training images (smoke runs)
    evaluate: bool = True  # score each epoch to choose best.pt (trains the classifier once)
    # The data (cgan_train.data.DataSource): a set's name or a folder, and how to shape its images.
    data: str = "mnist"
    # Where the named sets live (--data-dir), recorded so that --resume reads them from the same place.
    data_dir: str = DEFAULT_DATA_DIR
    image_size: int | None = None
    channels: int | None = None
    skip_bad_images: bool = False
    # A folder's files, sizes and times when the run started (data.data_fingerprint); "" for a named set.
    data_fingerprint: str = ""
    # Differentiable augmentation of the critic's input (augment.py); None = decide by the
    # set's size (`decided_for`), which is what the run then records.
    augment: bool | None = None
    # The fast start (FAST_START_BELOW); None = decide by the run's planned length (`decided_for`).
    fast_start: bool | None = None
    # Weight of the critic's class loss (CLASS_LOSS; conv only); 0 = off; None = decide by the set's size.
    class_loss: float | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.recipe in RECIPES, f"unknown recipe '{self.recipe}' (choose from {', '.join(RECIPES)})"),
            (self.loss in LOSSES, f"unknown loss '{self.loss}' (choose from {', '.join(LOSSES)})"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"learning rate must be > 0, got {self.lr}"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, f"betas must be in [0, 1), got {self.beta1}, {self.beta2}"),
            (0 <= self.ema < 1, f"ema decay must be in [0, 1), got {self.ema}"),
            (self.diversity >= 0, f"diversity weight must be >= 0, got {self.diversity}"),
            (self.nz >= 1, f"nz must be >= 1, got {self.nz}"),
            (self.critic_width is None or self.critic_width >= 1,
             f"critic width must be >= 1, got {self.critic_width}"),
            (0 <= self.seed < TRAINING_SEED_LIMIT, f"seed must be in [0, 2**64), got {self.seed}"),
            (self.min_steps is None or self.min_steps >= 1, f"min steps must be >= 1, got {self.min_steps}"),
            (self.max_steps is None or self.max_steps >= 1, f"max steps must be >= 1, got {self.max_steps}"),
            (self.train_limit is None or self.train_limit >= 1, f"train limit must be >= 1, got {self.train_limit}"),
            (self.class_loss is None or self.class_loss >= 0, f"class loss weight must be >= 0, got {self.class_loss}"),
            (not self.class_loss or self.network == "conv",
             f"the class loss needs the conv network's critic, not {self.network}'s (use --class-loss 0)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def for_recipe(cls, recipe: str = DEFAULT_RECIPE, **overrides: Any) -> "TrainConfig":
        """The recipe with the given fields overridden (None means keep the recipe's value)."""
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe '{recipe}' (choose from {', '.join(RECIPES)})")
        given = {k: v for k, v in overrides.items() if v is not None}
        if "epochs" in given:  # an explicit length replaces the recipe's rule
            given.setdefault("min_steps", None)
        undecided = {"augment": None, "fast_start": None, "class_loss": None}
        return cls.from_dict({**RECIPES[recipe], **undecided, **given, "recipe": recipe})

    def with_overrides(self, **overrides: Any) -> "TrainConfig":
        """This config with the given fields replaced (None means keep); a new `epochs` drops min_steps."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "epochs" in given:
            given.setdefault("min_steps", None)
        return replace(self, **given)

    def planned_steps(self, steps_per_epoch: int) -> int:
        """The run's length in steps: the recipe's rule (RECIPES), capped by max_steps."""
        steps = max(self.epochs * steps_per_epoch, self.min_steps or 0)
        return min(steps, self.max_steps or steps)

    def adam(self) -> tuple[float, tuple[float, float]]:
        """The optimisers' learning rate and betas: the recipe's, or the fast start's (FAST_START_BELOW)."""
        if self.fast_start:
            return self.lr * FAST_LR, FAST_BETAS
        return self.lr, (self.beta1, self.beta2)

    def decided_for(self, n_images: int, planned_steps: int) -> "TrainConfig":
        """The config with what a new run decides from its set and length, where not decided here (conv
        only): augmentation and the class loss below SMALL_SET_BELOW images, the fast start below
        FAST_START_BELOW steps on a set that is not small."""
        conv = self.network == "conv"
        small = conv and n_images < SMALL_SET_BELOW
        short = conv and not small and planned_steps < FAST_START_BELOW
        return replace(self, augment=small if self.augment is None else self.augment,
                       fast_start=short if self.fast_start is None else self.fast_start,
                       class_loss=(CLASS_LOSS if small else 0.0) if self.class_loss is None else self.class_loss)

    def with_decisions_of(self, run: "TrainConfig") -> "TrainConfig":
        """The config with what `run` decided (`decided_for`), where not decided here: a resume keeps its run's."""
        return replace(self, augment=run.augment if self.augment is None else self.augment,
                       fast_start=run.fast_start if self.fast_start is None else self.fast_start,
                       class_loss=run.class_loss if self.class_loss is None else self.class_loss)

    def changes_beyond_plan(self, other: "TrainConfig") -> list[str]:
        """Fields other than the plan (PLAN_FIELDS) where `other` differs, as 'name: ours -> theirs'."""
        mine, theirs = self.to_dict(), other.to_dict()
        fixed = [k for k in mine if k not in PLAN_FIELDS + RECORDED_FIELDS]
        return [f"{k} {mine[k]} -> {theirs[k]}" for k in fixed if mine[k] != theirs[k]]

    def model_spec(self, data: LabelledImages | None = None) -> ModelSpec:
        """The generator's spec; shaped by `data` (its images and classes) when given."""
        if data is None:
            return ModelSpec(arch=self.network, nz=self.nz)
        return ModelSpec(arch=self.network, nz=self.nz, num_classes=data.num_classes, class_names=data.class_names,
                         image_shape=data.image_shape, dataset=data.dataset)

    def data_source(self, data_dir: str | Path, download: bool = False) -> DataSource:
        return DataSource(self.data, Path(data_dir), self.image_size, self.channels, download, self.skip_bad_images)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Read a config back, refusing fields it does not know (as ModelSpec.from_dict does)."""
        # Runs written before `--arch` was renamed `--recipe` stored the name as "arch".
        if "arch" in data and "recipe" not in data:
            data = {("recipe" if k == "arch" else k): v for k, v in data.items()}
        # Runs written before the critic's width was a field used the network's own.
        # Runs written before a length in steps, augmentation, the fast start or the class loss: epochs
        # alone, none of the others.
        data = {"critic_width": _RECIPE_BASE["critic_width"], "min_steps": None, "augment": False,
                "fast_start": False, "class_loss": 0.0, **data}
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown training config fields: {sorted(unknown)}")
        missing = {f.name for f in fields(cls) if f.default is MISSING} - set(data)
        if missing:
            raise ValueError(f"missing training config fields: {sorted(missing)}")
        return cls(**data)
