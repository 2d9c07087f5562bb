"""Count a generator's FLOPs from its layers.

Only the multiply-adds of Linear and convolution layers are counted, two
FLOPs each (one multiply, one add), because that is the work a matrix-multiply
ceiling can be compared with:

    Linear           2 * in * out                      per row (one row per image here)
    Conv2d           2 * (C_in / groups) * kH * kW * C_out * H_out * W_out
    ConvTranspose2d  2 * C_in * (C_out / groups) * kH * kW * H_in * W_in

All three are 2 * weight.numel() * positions, with positions the rows,
output pixels or input pixels each weight is applied at. Embeddings,
normalisations, activations and bias adds are left out: they are memory
traffic rather than arithmetic, and they are what keeps a whole generator
below a bare GEMM's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cgan_runtime.contract import ModelSpec


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    weight_shape: tuple[int, ...]
    flops: int  # per image


def layers(generator: nn.Module, spec: ModelSpec) -> list[Layer]:
    """The generator's Linear and convolution layers in the order one forward pass runs them."""
    found: list[Layer] = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            if isinstance(module, nn.Linear):
                positions = inputs[0].numel() // module.in_features
            elif isinstance(module, nn.ConvTranspose2d):
                positions = math.prod(inputs[0].shape[2:])
            else:
                positions = math.prod(output.shape[2:])
            weight = module.weight
            found.append(Layer(name, type(module).__name__, tuple(weight.shape), 2 * weight.numel() * positions))

        return record

    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    handles = [m.register_forward_hook(hook(n)) for n, m in generator.named_modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            # One image, so positions come out per image.
            generator(torch.zeros(1, spec.nz), torch.zeros(1, dtype=torch.long))
    finally:
        for handle in handles:
            handle.remove()
    return found


def flops_per_image(found: list[Layer]) -> int:
    return sum(layer.flops for layer in found)


def linear_chain(found: list[Layer]) -> list[int] | None:
    """[in, hidden..., out] when the layers are Linears each feeding the next, else None.

    That chain, as bare MatMuls, is the fastest the generator's own layer
    shapes can run: the bound a whole generator is measured against.
    """
    if not found or any(layer.kind != "Linear" for layer in found):
        return None
    dims = [found[0].weight_shape[1]]
    for layer in found:
        out_features, in_features = layer.weight_shape
        if in_features != dims[-1]:
            return None
        dims.append(out_features)
    return dims
