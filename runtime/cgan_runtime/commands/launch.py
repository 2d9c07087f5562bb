"""The runtime's console scripts, `cgan-gen` and `cgan-serve`: each imports its command under `launching`.

This module imports nothing heavy itself, so an interrupt during start-up
gets its one line (`errors.launching`).
"""

from __future__ import annotations

from .errors import launching


def gen() -> None:
    with launching("cgan-gen"):
        from .gen import main
    main()


def serve() -> None:
    with launching("cgan-serve"):
        from .serve import main
    main()
