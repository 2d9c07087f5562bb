"""The console script `cgan-export`, started by `launch` (no typer, no torch here)."""

from __future__ import annotations

from cgan_runtime.commands.launch import launch


def export() -> None:
    launch("cgan-export", "cgan_export.cli")
