"""Where a training run's time goes on a small colour set against MNIST, in CPU seconds.

CPU seconds (time.process_time), not wall time, so that a shared machine's load
moves the figures little; with one thread they are what one idle core would take.
Measures, for the default recipe's networks:
- a training step (batch 64) on 32x32 RGB (augmented, with the class loss, as the recipe
  trains a small set; and plain) and on 28x28 grey MNIST, and images/s per pixel from it;
- a look: the average's BatchNorm recalibration and a score's samples, at the size
  used before (10,000 images, 2,000 samples, every epoch) and now (sized to the set).

    python -m bench.train_speed [--steps 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time

import torch

from cgan_runtime.contract import ModelSpec
from cgan_train.config import TrainConfig
from cgan_train.models import build_models
from cgan_train.trainer import Looks, Models, recalibrate_batchnorm, train_step


def _models(spec: ModelSpec, cfg: TrainConfig) -> Models:
    torch.manual_seed(0)
    g, d = build_models(spec, classify=cfg.class_loss > 0)
    lr, betas = cfg.adam()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    return Models(spec, g, d, g, d, copy.deepcopy(g).eval(), opt_g, opt_d)


def cpu_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat


def measure(shape: tuple[int, int, int], classes: int, small: bool, steps: int) -> dict[str, float]:
    """One step and one look; `small`: trained as the recipe trains a small set (augmented, class loss)."""
    spec = ModelSpec(arch="conv", nz=100, num_classes=classes, class_names=tuple(map(str, range(classes))),
                     image_shape=shape)
    cfg = TrainConfig.for_recipe("conv").decided_for(300 if small else 60_000, planned_steps=26_000)
    augment = cfg.augment
    models = _models(spec, cfg)
    b = cfg.batch_size
    x = torch.rand(b, *shape) * 2 - 1
    y = torch.randint(0, classes, (b,))
    views = torch.Generator().manual_seed(0) if augment else None
    step = cpu_seconds(lambda: train_step(cfg, models, x, y, torch.randn(b, 100), y, 100, views), steps)

    def recalibration(images: int) -> float:
        return cpu_seconds(lambda: recalibrate_batchnorm(models.G_ema, spec, torch.device("cpu"), 0,
                                                         batches=math.ceil(images / 250)), 1)

    def sampling(n: int) -> float:
        with torch.no_grad():
            return cpu_seconds(lambda: models.G_ema(torch.randn(n, 100), torch.randint(0, classes, (n,))), 1)

    pixels = math.prod(shape)
    return {"step_s": step, "images_per_s": b / step, "pixels_per_s": b * pixels / step,
            "recalibration_10000_s": recalibration(10_000), "samples_2000_s": sampling(2000),
            "recalibration_300_set_s": recalibration(Looks(300, 1).recalibration_images),
            "samples_300_set_s": sampling(300)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    colour = measure((3, 32, 32), 3, small=True, steps=args.steps)  # augmented, with the class loss
    colour_plain = measure((3, 32, 32), 3, small=False, steps=args.steps)
    mnist = measure((1, 28, 28), 10, small=False, steps=args.steps)
    report = {"colour_32_small_set": colour, "colour_32_plain": colour_plain, "mnist": mnist,
              "per_pixel_ratio_mnist_over_colour": mnist["pixels_per_s"] / colour["pixels_per_s"]}
    # A 300-image set at batch 64 has 4 steps an epoch; before, each epoch also looked (10,000 + 2,000 images).
    epoch = 4 * colour["step_s"]
    before_look = colour["recalibration_10000_s"] + colour["samples_2000_s"]
    report["small_set_before"] = {"look_share": before_look / (epoch + before_look),
                                  "images_per_s": 256 / (epoch + before_look)}
    report["small_set_now"] = {"look_share_bound": 0.1, "images_per_s_at_bound": 256 / (epoch / 0.9)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
