"""Which onnxruntime execution providers to ask for, and whether we got them.

onnxruntime quietly runs on CPU when CUDA cannot start (missing libraries,
no device), so what a session uses is checked against what was asked.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROVIDERS = ("auto", "cpu", "cuda")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

# A generator this small gains nothing from cuDNN's exhaustive convolution
# search, which would add seconds to the first run.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}

INSTALL_HINT = "pip install '.[cpu]' in the cgan-edge clone (or '.[gpu]' for CUDA)"
# onnxruntime's severity levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
# Fatal only: a CUDA provider that fails to load is logged as an error block, and
# `check_cuda_in_use` already reports it, with its cause, in one line.
ORT_FATAL_ONLY = 4


def import_onnxruntime() -> Any:
    """onnxruntime, with its own logger limited to fatal errors (the package reports fallbacks itself).

    ModuleNotFoundError names the extra to install when it is missing.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModuleNotFoundError(f"onnxruntime is not installed: {INSTALL_HINT}", name="onnxruntime") from exc
    # Its default logger prints multi-line blocks for every CUDA fallback, before our one line.
    onnxruntime.set_default_logger_severity(ORT_FATAL_ONLY)
    return onnxruntime


def prepare_cuda(onnxruntime: Any) -> None:
    """Load the CUDA and cuDNN libraries of the `gpu` extra's pip packages, where onnxruntime can (1.21+).

    Without it, onnxruntime-gpu finds them only on the system library path.
    Failures are left to the session: `check_cuda_in_use` reports them. preload_dlls
    prints its failures to stdout, which would corrupt `cgan-gen -o -`: silenced.
    """
    preload = getattr(onnxruntime, "preload_dlls", None)
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            preload()
        except Exception:  # a missing package here is reported, with its cause, once the session falls back
            pass


def wants_cuda(provider: str, available: Sequence[str]) -> bool:
    """Whether to ask for CUDA: "cuda" always (or fail now), "auto" when onnxruntime offers it."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    if provider == "cuda" and CUDA not in available:
        raise RuntimeError(
            f"provider 'cuda' was requested but this onnxruntime offers only {', '.join(available)} "
            "(pip uninstall onnxruntime, then pip install '.[gpu]' in the cgan-edge clone; on Jetson use NVIDIA's onnxruntime-gpu)"
        )
    return provider != "cpu" and CUDA in available


def session_providers(cuda: bool) -> list[Any]:
    """The providers list for `InferenceSession`, CPU last as onnxruntime's fallback."""
    return [(CUDA, dict(CUDA_OPTIONS)), CPU] if cuda else [CPU]


def check_cuda_in_use(provider: str, in_use: Sequence[str], onnxruntime: Any = None) -> None:
    """After asking for CUDA: fail for "cuda", warn for "auto", when the session runs without it.

    The message gives the cause when it can be found (see `cuda_failure_reason`).
    """
    if CUDA in in_use:
        return
    reason = cuda_failure_reason(onnxruntime)
    message = f"CUDA is available but onnxruntime could not start it; running on {', '.join(in_use)}" + (
        f" ({reason})" if reason else ""
    )
    if provider == "cuda":
        raise RuntimeError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def cuda_failure_reason(onnxruntime: Any) -> str:
    """Why onnxruntime's CUDA provider did not start, in one line, or "" when it cannot be told.

    The usual cause is a CUDA or cuDNN library the provider links against
    being absent; loading the provider library ourselves names it. If it
    loads, the libraries are there and the GPU or its driver is not.
    """
    import ctypes

    folder = Path(getattr(onnxruntime, "__file__", "") or ".").parent / "capi"
    library = next(iter(sorted(folder.glob("libonnxruntime_providers_cuda.*"))), None)
    if library is None:
        return ""
    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        # dlopen says "libcublasLt.so.12: cannot open shared object file: ..." for a missing dependency.
        text = " ".join(str(exc).split())
        if "cannot open shared object file" in text:
            return f"{text.split(':')[0]} is missing: pip install '.[gpu]' in the cgan-edge clone brings CUDA and cuDNN"
        return f"its library does not load: {text}"
    return "its libraries load, so no usable GPU or driver was found"
