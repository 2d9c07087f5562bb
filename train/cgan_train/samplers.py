"""One sampling interface over both generator formats, so they are measured alike."""

from __future__ import annotations

from pathlib import Path

import torch

from cgan_runtime.contract import ModelSpec

from .checkpoint import inference_generator, load_checkpoint
from .evaluation import SampleFn


def checkpoint_sampler(generator: torch.nn.Module, device: torch.device) -> SampleFn:
    generator = generator.to(device).eval()

    @torch.no_grad()
    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return generator(noise.to(device), labels.to(device))

    return sample


def onnx_sampler(path: Path, device: torch.device) -> tuple[SampleFn, int]:
    """A sampler over an exported generator and its nz (export's accuracy guard)."""
    sample, spec = _onnx_sampler(path, device)
    return sample, spec.nz


def _onnx_sampler(path: Path, device: torch.device, threads: int | None = None) -> tuple[SampleFn, ModelSpec]:
    """ValueError/FileNotFoundError when the file is not a loadable generator."""
    from cgan_runtime import Generator

    generator = Generator(path, provider="cuda" if device.type == "cuda" else "cpu", threads=threads)

    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(generator.generate_raw(labels.cpu().numpy(), noise=noise.cpu().numpy()))

    return sample, generator.spec


def load_sampler(path: Path, device: torch.device, threads: int | None = None) -> tuple[SampleFn, ModelSpec]:
    """A sampler and the model's spec for a checkpoint (.pt) or an exported generator (.onnx)."""
    if path.suffix == ".onnx":
        return _onnx_sampler(path, device, threads)
    generator, spec = inference_generator(load_checkpoint(path, map_location="cpu"))
    return checkpoint_sampler(generator, device), spec
