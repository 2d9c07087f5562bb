"""Loading the model for a command: its errors as one-line UserErrors, its warnings as notes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from .errors import UserError
from .generator import Generator


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
    return generator
