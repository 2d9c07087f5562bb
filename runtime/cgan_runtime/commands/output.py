"""Where a command's output goes: a file, written atomically (`files`), or stdout, written whole or not at all."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..files import check_writable, write_all, write_output
from .errors import EXIT_USAGE, UserError

STDOUT = "-"


def check_destination(output: str) -> None:
    """Fail before any work when the output cannot be written at all."""
    if output == STDOUT:
        if sys.stdout is None:
            raise UserError("stdout is closed: pass -o FILE")
        if sys.stdout.isatty():
            raise UserError("refusing to write PNG data to a terminal: redirect stdout or pass -o FILE", EXIT_USAGE)
        return
    try:
        check_writable(output)
    except OSError as exc:
        raise UserError(str(exc)) from None


def write_one(output: str, data: bytes) -> str:
    """Write one encoded picture to `output` (a file, or stdout for '-'); return what was written, for the user."""
    if output == STDOUT:
        write_stdout(data)
        return "PNG to stdout"
    write_file(output, data)
    return output


def write_file(path: str | Path, data: bytes) -> None:
    try:
        write_output(path, data)
    except OSError as exc:
        raise UserError(str(exc)) from None


def write_stdout(data: bytes, what: str = "PNG") -> None:
    """All of `data` to stdout, or a UserError: a short or failed write is never reported as written.

    os.write in a loop, not sys.stdout.buffer: when a pipe's reader leaves mid-write
    (`| head -c 10`) the kernel reports a short write, which the buffered writer let
    pass silently; the next os.write then fails with EPIPE.
    """
    try:
        sys.stdout.flush()
        write_all(sys.stdout.fileno(), data)
    except OSError as exc:
        # The unwritten bytes stay buffered and Python would fail again flushing them at exit,
        # with a second message: point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if isinstance(exc, BrokenPipeError):
            raise UserError(f"stdout was closed before the whole {what} was written (broken pipe)") from None
        raise UserError(f"cannot write to stdout: {exc.strerror or exc}") from None
