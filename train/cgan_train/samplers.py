"""One sampling interface over both generator formats, so they are measured alike."""

from __future__ import annotations

from pathlib import Path

import torch

from cgan_runtime.errors import UserError

from .checkpoint import inference_generator, load_checkpoint
from .evaluation import SampleFn


def checkpoint_sampler(generator: torch.nn.Module, device: torch.device) -> SampleFn:
    generator = generator.to(device).eval()

    @torch.no_grad()
    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return generator(noise.to(device), labels.to(device))

    return sample


def onnx_sampler(path: Path, device: torch.device) -> tuple[SampleFn, int]:
    from cgan_runtime import Generator

    try:
        generator = Generator(path, provider="cuda" if device.type == "cuda" else "cpu")
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None

    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(generator.generate_raw(labels.cpu().numpy(), noise=noise.cpu().numpy()))

    return sample, generator.nz


def load_sampler(path: Path, device: torch.device) -> tuple[SampleFn, int]:
    """A sampler for a checkpoint (.pt) or an exported generator (.onnx)."""
    if path.suffix == ".onnx":
        return onnx_sampler(path, device)
    generator, spec = inference_generator(load_checkpoint(path, map_location="cpu"))
    return checkpoint_sampler(generator, device), spec.nz
