"""Where every cgan-edge console script starts (`launch`), and the runtime's two, `cgan-gen` and `cgan-serve`.

This module imports nothing heavy itself, so an interrupt during start-up
gets its one line (`errors.launching`).
"""

from __future__ import annotations

from importlib import import_module

from .errors import launching


def launch(prog: str, module: str, function: str = "main") -> None:
    """Import the command's `module` under `launching`, then call its `function`.

    The command's imports (typer, numpy, torch) take from a tenth of a second
    to several seconds: a Ctrl-C or SIGTERM among them is one line, not a traceback.
    """
    with launching(prog):
        main = getattr(import_module(module), function)
    main()


def gen() -> None:
    launch("cgan-gen", "cgan_runtime.commands.gen_plain")


def serve() -> None:
    launch("cgan-serve", "cgan_runtime.commands.serve")
