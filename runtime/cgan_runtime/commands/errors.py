"""How every cgan-edge command reports a user error: one line on stderr, no traceback.

The libraries raise ordinary exceptions (ValueError, OSError, ...); the
commands turn the user's mistakes into `UserError`, and `run_command` (under
typer, `run_app`) turns those into one line and an exit code. This module
imports nothing heavy: the entry points use it before typer or numpy load.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar

if TYPE_CHECKING:  # typer loads only once the command runs
    import typer

T = TypeVar("T")

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM


class UserError(Exception):
    """A mistake the user can fix (bad argument, missing file); `exit_code` says which kind."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def usage(check: Callable[..., T], *args: Any, prefix: str = "") -> T:
    """`check(*args)`, its ValueError a usage error (exit 2) whose message starts with `prefix`."""
    try:
        return check(*args)
    except ValueError as exc:
        raise UserError(f"{prefix}{exc}", EXIT_USAGE) from None


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `finally` blocks (temp file cleanup) run.

    A BaseException, so `except Exception` in library code does not swallow it.
    """


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (escape sequences, bells, carriage returns)
    written as a Python escape: names and messages from a model file reach the terminal as text."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def fail(prog: str, message: str, exit_code: int) -> NoReturn:
    # Several lines (onnxruntime's messages have them) would break the one-line rule.
    line = printable(" ".join(message.split()))
    print(f"{prog}: error: {line}", file=sys.stderr)
    raise SystemExit(exit_code)


@contextmanager
def launching(prog: str) -> Iterator[None]:
    """Around a console script's import of its command: Ctrl-C or SIGTERM there is one line, not a traceback.

    Importing a command's module (typer, numpy, torch) takes from a tenth of a
    second to several seconds; `run_command` handles interrupts from then on.
    """
    try:
        with sigterm_raises():
            yield
    except KeyboardInterrupt:
        fail(prog, "interrupted", EXIT_INTERRUPTED)
    except Terminated:
        fail(prog, "terminated", EXIT_TERMINATED)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread; the old handler comes back after."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_app(app: typer.Typer, prog: str) -> None:
    """Run a typer app under `run_command`; typer's own usage errors become one line and exit 2 too.

    Typer's usage errors print a multi-line box; `run_command` matches its click
    exceptions by shape (`format_message` and `exit_code`) because typer vendors
    click in some releases and depends on it in others. Help text is shown as
    written: with rich markup on, "[default: 1e-4]" in a help string is taken
    for a markup tag and vanishes.
    """
    app.rich_markup_mode = None

    def invoke() -> object:
        import typer

        try:
            return app(prog_name=prog, standalone_mode=False)
        except typer.Abort:  # Ctrl-C inside a prompt
            raise KeyboardInterrupt from None

    run_command(prog, invoke)


def run_command(prog: str, command: Callable[[], object]) -> None:
    """Call `command`, turning UserErrors, interrupts and OSErrors into one clear stderr line and an exit code.

    An OSError that reaches here (disk full, permission denied) is the
    machine's answer, not a bug: one line, exit 1. An int the command returns
    other than 0 is the exit code.
    """
    try:
        with sigterm_raises():
            code = command()
    except UserError as exc:
        fail(prog, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail(prog, "interrupted", EXIT_INTERRUPTED)
    except Terminated:
        fail(prog, "terminated", EXIT_TERMINATED)
    except OSError as exc:
        fail(prog, describe_os_error(exc), EXIT_RUNTIME)
    except Exception as exc:
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            fail(prog, exc.format_message(), exc.exit_code)
        raise
    if code == EXIT_INTERRUPTED:  # typer turns a KeyboardInterrupt inside the command into this return value
        fail(prog, "interrupted", EXIT_INTERRUPTED)
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: our own messages as they are, the system's with the file it concerns."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc.strerror or exc)
