"""Which onnxruntime execution providers to ask for, and whether we got them.

onnxruntime quietly runs on CPU when CUDA cannot start (missing libraries,
no device), so what a session uses is checked against what was asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

PROVIDERS = ("auto", "cpu", "cuda")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# A generator this small gains nothing from cuDNN's exhaustive convolution
# search, which would add seconds to the first run.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}


def wants_cuda(provider: str, available: Sequence[str]) -> bool:
    """Whether to ask for CUDA: "cuda" always (or fail now), "auto" when onnxruntime offers it."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    if provider == "cuda" and CUDA not in available:
        raise RuntimeError(
            f"provider 'cuda' was requested but this onnxruntime offers only {', '.join(available)} "
            "(install onnxruntime-gpu, the package's `gpu` extra)"
        )
    return provider != "cpu" and CUDA in available


def session_providers(cuda: bool) -> list[Any]:
    """The providers list for `InferenceSession`, CPU last as onnxruntime's fallback."""
    return [(CUDA, dict(CUDA_OPTIONS)), CPU] if cuda else [CPU]


def check_cuda_in_use(provider: str, in_use: Sequence[str]) -> None:
    """After asking for CUDA: fail for "cuda", warn for "auto", when the session runs without it."""
    if CUDA in in_use:
        return
    message = f"CUDA is available but onnxruntime could not start it; running on {', '.join(in_use)}"
    if provider == "cuda":
        raise RuntimeError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
