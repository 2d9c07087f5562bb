"""What training a pair of models takes in memory, estimated before either is built.

The models are built, and run once on a batch, on torch's meta device: shapes
without storage, so the estimate itself allocates nothing. A run whose models
cannot fit is refused in one line instead of growing until the allocator or
the kernel stops it a minute in.
"""

from __future__ import annotations

import torch
from torch import nn

from cgan_runtime.budget import readable_size
from cgan_runtime.contract import ModelSpec

from .data import free_memory
from .models import build_models

# Per parameter: the weights, their gradient and Adam's two moments, float32 each.
TRAINED_PARAMETER_BYTES = 4 * 4
# Per float of a layer's output in one forward pass: kept for the backward pass, its gradient,
# and the discriminator seeing real and generated images (and the generator's pairs) each step.
ACTIVATION_FACTOR = 3
# What the estimate may take of the memory that is free: the data, torch and the OS need the rest.
MODEL_SHARE = 0.8


def training_bytes(spec: ModelSpec, critic_width: int | None, batch: int, ema: bool) -> int:
    """Estimated peak bytes of training `spec`'s pair on `batch` images per step (per process)."""
    with torch.device("meta"):
        generator, critic = (model.eval() for model in build_models(spec, critic_width))  # eval: any batch size
        parameters = _count(generator) + _count(critic)
        noise = torch.zeros(batch, spec.nz)
        labels = torch.zeros(batch, dtype=torch.long)
        outputs = _output_floats(generator, noise, labels) + _output_floats(
            critic, torch.zeros(batch, *spec.image_shape), labels
        )
    averaged = _count(generator) if ema else 0  # the generator's weight average
    return parameters * TRAINED_PARAMETER_BYTES + averaged * 4 + outputs * 4 * ACTIVATION_FACTOR


def check_training_fits(spec: ModelSpec, critic_width: int | None, batch: int, ema: bool,
                        device: torch.device) -> None:
    """MemoryError naming the figures when training would not fit in the device's free memory."""
    needed = training_bytes(spec, critic_width, batch, ema)
    free, where = free_memory(device)
    if free is not None and needed > MODEL_SHARE * free:
        c, h, w = spec.image_shape
        raise MemoryError(
            f"training the {spec.arch} models on {c}x{h}x{w} images, {batch} per step, needs about "
            f"{readable_size(needed)}, but {readable_size(free)} of {where} is there: "
            "use a smaller --image-size or --batch-size"
        )


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _output_floats(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Floats the leaf layers of one forward pass write: what autograd keeps for the backward pass."""
    total = 0

    def count(layer: nn.Module, args: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    hooks = [m.register_forward_hook(count) for m in module.modules() if not list(m.children())]
    try:
        module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return total
