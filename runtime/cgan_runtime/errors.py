"""How every cgan-edge command reports a user error: one line on stderr, no traceback."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # the library raises UserError without paying for typer's import
    import typer

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix (bad argument, missing file); `exit_code` says which kind."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(prog: str, message: str, exit_code: int) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(exit_code)


def run_app(app: typer.Typer, prog: str) -> None:
    """Run a typer app, turning usage errors and UserErrors into one clear stderr line.

    Typer's own usage errors print a multi-line box; we want one line and exit 2.
    Its click exceptions are matched by shape (`format_message` and `exit_code`)
    because typer vendors click in some releases and depends on it in others.
    """
    import typer

    try:
        code = app(prog_name=prog, standalone_mode=False)
    except UserError as exc:
        fail(prog, str(exc), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        fail(prog, "interrupted", 130)
    except Exception as exc:
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            fail(prog, exc.format_message(), exc.exit_code)
        raise
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)
