"""Generate images from an exported cgan-edge generator, without torch.

`Generator` loads and checks a file and draws images; `new_seed()` draws the
random seed `Generator.generate` would draw for `seed=None`, so a caller who
wants to record it draws it first and passes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract import ModelSpec
    from .generator import Generator
    from .inputs import new_seed

__all__ = ["Generator", "ModelSpec", "new_seed", "__version__"]

# Imported on first access (PEP 562): `cgan_runtime.commands.errors` and the console
# scripts' entry module must load without numpy, so an interrupt during
# start-up reaches code that can report it in one line.
_LAZY = {"Generator": ".generator", "ModelSpec": ".contract", "new_seed": ".inputs"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    # importlib.metadata costs ~30 ms at import; only `--version` and the
    # curious need it, so it is read on first access.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("cgan-edge")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
