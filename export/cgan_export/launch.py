"""The console script `cgan-export`: it imports its command under `launching`.

This module imports nothing heavy itself (no typer, no torch), so an
interrupt during start-up gets its one line.
"""

from __future__ import annotations

from cgan_runtime.commands.errors import launching


def export() -> None:
    with launching("cgan-export"):
        from .cli import main
    main()
