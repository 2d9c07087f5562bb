"""The console scripts `cgan-train` and `cgan-eval`: each imports its command under `launching`.

This module imports nothing heavy itself (no typer, no torch), so an
interrupt during start-up gets its one line.
"""

from __future__ import annotations

from cgan_runtime.commands.errors import launching


def train() -> None:
    with launching("cgan-train"):
        from .cli import train_main
    train_main()


def evaluate() -> None:
    with launching("cgan-eval"):
        from .cli import eval_main
    eval_main()
