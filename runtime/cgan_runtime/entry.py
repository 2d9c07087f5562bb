"""The console-script entry points: Ctrl-C and SIGTERM get their one line even during start-up.

Importing a command's module (typer, numpy, torch) takes from a tenth of a
second to several seconds; an interrupt there would otherwise print a
traceback. This module imports nothing heavy itself, then hands over to the
command, whose `run_app` handles interrupts from then on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from .errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, fail, sigterm_raises


def _launch(module: str, function: str, prog: str) -> None:
    try:
        with sigterm_raises():
            main: Callable[[], None] = getattr(importlib.import_module(module), function)
    except KeyboardInterrupt:
        fail(prog, "interrupted", EXIT_INTERRUPTED)
    except Terminated:
        fail(prog, "terminated", EXIT_TERMINATED)
    main()


def gen() -> None:
    _launch("cgan_runtime.cli", "main", "cgan-gen")


def serve() -> None:
    _launch("cgan_runtime.serve.command", "main", "cgan-serve")


def train() -> None:
    _launch("cgan_train.cli", "train_main", "cgan-train")


def evaluate() -> None:
    _launch("cgan_train.cli", "eval_main", "cgan-eval")


def export() -> None:
    _launch("cgan_export.cli", "main", "cgan-export")
