"""Generate MNIST-style digits from an exported cgan-edge generator, without torch."""

from __future__ import annotations

from .contract import ModelSpec
from .generator import Generator

__all__ = ["Generator", "ModelSpec", "__version__"]


def __getattr__(name: str) -> str:
    # importlib.metadata costs ~30 ms at import; only `--version` and the
    # curious need it, so it is read on first access (PEP 562).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("cgan-edge")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
