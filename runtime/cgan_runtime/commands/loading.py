"""Loading the model for a command (`cgan-gen`, `cgan-serve`): its errors as one-line UserErrors, its warnings as notes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from ..generator import Generator
from .errors import UserError, printable


def load_generator(model: Path | None, provider: str, threads: int | None, note: Callable[[str], None]) -> Generator:
    """The Generator for a command; each warning onnxruntime or the runtime raises goes to `note` as one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            generator = Generator(model, provider=provider, threads=threads)
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            raise UserError(str(exc)) from None
    for warning in caught:
        note(f"warning: {warning.message}")
    unnamable = [(i, name) for i, name in enumerate(generator.class_names) if not nameable(name)]
    if unnamable:
        shown = ", ".join(f"{i}={printable(repr(name))}" for i, name in unnamable[:8])
        more = f" and {len(unnamable) - 8} more" if len(unnamable) > 8 else ""
        note(f"warning: classes {shown}{more} cannot be chosen by name here (a name holding ',', '=' or ':', "
             "or spaces around it): give their index")
    return generator


def nameable(name: str) -> bool:
    """Whether a class list or mix in text (`arguments`) can spell this class name: they split on , = and :."""
    return name == name.strip() and not any(sep in name for sep in ",=:")
