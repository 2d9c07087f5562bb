"""Print how the runtime takes each contract file: one line per file, the same on every platform.

Run from the repository root; tests/platforms/aarch64.sh diffs this output between x86_64 and
aarch64, so a platform that reads a file differently (or refuses it for another reason) fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cgan_runtime import Generator

FILES = [
    Path("assets/generator.onnx"),  # format version 2, as shipped
    Path("tests/fixtures/tiny_generator.onnx"),  # format version 1
    Path("tests/fixtures/tiny_generator_v2.onnx"),
    *sorted(Path("tests/fixtures/bad").glob("*.onnx")),
]


def describe(path: Path) -> str:
    try:
        gen = Generator(path, threads=1)
    except ValueError as error:
        return f"{path}: refused: {error}"
    return f"{path}: loaded: nz {gen.nz}, classes {len(gen.class_names)}, can_mix {gen.can_mix}"


if __name__ == "__main__":
    lines = [describe(path) for path in FILES]
    if len(lines) < 5:
        sys.exit("tests/platforms/loads.py: the contract fixtures are missing")
    print("\n".join(lines))
