"""The console scripts `cgan-train` and `cgan-eval`, started by `launch` (no typer, no torch here)."""

from __future__ import annotations

from cgan_runtime.commands.launch import launch


def train() -> None:
    launch("cgan-train", "cgan_train.cli", "train_main")


def evaluate() -> None:
    launch("cgan-eval", "cgan_train.cli", "eval_main")
