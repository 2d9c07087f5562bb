"""`cgan-gen`'s entry: a plain call (`--label 5 -o x.png`) read here, anything else handed to typer (`gen`).

Importing typer and building its command from `gen.cgan_gen`'s signature cost
about 50 ms, more than all the rest `cgan-gen` adds to onnxruntime's own
start-up, and most calls are plain. `plain_request` reads an argument list
made only of the plain mode's options, written `--option VALUE`, each value
one typer would take; for anything else (--help, another mode, `--option=VALUE`,
a value typer would refuse) it returns None and typer reads the call, so every
message and check stays typer's. tests/test_gen_plain.py holds `OPTIONS` to
`gen.cgan_gen`: the same option strings and ranges, and on any argument list
read here, the same request typer hands the plain mode.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..inputs import SEED_LIMIT
from ..providers import PROVIDERS
from .errors import run_command
from .gen_labels import LabelsRequest, draw_labels
from .gen_shared import PROG
from .launch import launch


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A reader of the integers typer's `min=minimum, max=maximum` takes, written in ASCII digits."""

    def read(text: str) -> int:
        if not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(text)
        return value

    return read


def provider(text: str) -> str:
    if text not in PROVIDERS:
        raise ValueError(text)
    return text


# Each option string of the plain mode: the LabelsRequest field it sets, and how its value is read
# (None: a flag). --label is the one option that may repeat; the others keep their last value, as in typer.
OPTIONS: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "--label": ("label", str), "-l": ("label", str),
    "--all-labels": ("all_labels", None),
    "--count": ("count", integer(1)), "-n": ("count", integer(1)),
    "--seed": ("seed", integer(0, SEED_LIMIT - 1)),
    "--grid": ("grid", None),
    "--scale": ("scale_factor", integer(1)),
    "--output": ("output", str), "-o": ("output", str),
    "--model": ("model", Path),
    "--provider": ("provider", provider),
    "--threads": ("threads", integer(1)),
}


def plain_request(argv: Sequence[str]) -> LabelsRequest | None:
    """The plain call `argv` asks for, or None where typer must read it."""
    given: dict[str, Any] = {}
    tokens = iter(argv)
    for token in tokens:
        if token not in OPTIONS:
            return None
        field, read = OPTIONS[token]
        if read is None:
            given[field] = True
            continue
        try:
            value = read(next(tokens))
        except (StopIteration, ValueError):  # no value, or one typer would refuse with its own message
            return None
        if field == "label":
            given.setdefault(field, []).append(value)
        else:
            given[field] = value
    return LabelsRequest(**given)


def main() -> None:
    """`cgan-gen`: the plain mode at once for a plain call, else typer's command (imported under `launching`)."""
    request = plain_request(sys.argv[1:])
    if request is None:
        launch(PROG, "cgan_runtime.commands.gen")
    else:
        run_command(PROG, lambda: draw_labels(request))
