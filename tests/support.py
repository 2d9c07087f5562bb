"""Plain helpers the tests import: fixture paths, shipping a fake default model, CLI results.

Torch- and onnx-free, like every runtime test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cgan_runtime.default_model import MANIFEST

FIXTURES = Path(__file__).parent / "fixtures"
TINY_MODEL = FIXTURES / "tiny_generator.onnx"  # format version 1: integer labels only
TINY_MIXING_MODEL = FIXTURES / "tiny_generator_v2.onnx"  # the same network, taking class weights
BAD_MODELS = FIXTURES / "bad"
NUMBERED_MODEL = FIXTURES / "numbered_classes.onnx"  # classes "0", "1", "10", "2", ...: "2" is index 3
ODD_NAMES_MODEL = FIXTURES / "odd_names.onnx"  # class names holding escape sequences, ',' and spaces
MANY_CLASSES_MODEL = FIXTURES / "many_classes.onnx"  # 1,000 classes of 4x4 images, taking class weights
# Real MNIST in torchvision's layout: CI lays shared/ beside the clone.
MNIST_DIR = Path(os.environ.get("CGAN_EDGE_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def install_default_model(assets: Path, model: Path = TINY_MODEL, sha256: str | None = None) -> Path:
    """Ship `model` in `assets` the way the package does; `sha256` overrides the real checksum."""
    shipped = assets / "generator.onnx"
    shipped.write_bytes(model.read_bytes())
    digest = sha256 or hashlib.sha256(shipped.read_bytes()).hexdigest()
    (assets / MANIFEST).write_text(json.dumps({"file": shipped.name, "sha256": digest}))
    return shipped


@dataclass
class CliResult:
    exit_code: int
    stdout: bytes
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def files_under(folder: Path) -> list[str]:
    """Every file and folder under `folder`, hidden ones (temp files) included, as sorted relative paths."""
    return sorted(str(path.relative_to(folder)) for path in Path(folder).rglob("*"))


def assert_one_line_error(
    result: CliResult, exit_code: int, *fragments: str, folder: Path | None = None, before: list[str] | tuple = (),
    besides: tuple[str, ...] = (), progress: bool = False,
) -> None:
    """A user error as every command reports it: `exit_code`; one line on stderr, 'PROG: error: ...', naming each
    fragment; no traceback; nothing on stdout; and, where `folder` is given, nothing written there: what is under
    it is `before` (relative paths). Lines starting with one of `besides` are notes allowed beside the error;
    `progress`: a command that failed midway may have printed its progress on stdout."""
    assert result.exit_code == exit_code, result.stderr
    lines = [line for line in result.stderr_lines if not line.startswith(besides)] if besides else result.stderr_lines
    assert len(lines) == 1, result.stderr
    assert re.match(r"cgan-[a-z]+: error: ", lines[0]), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert progress or result.stdout == b"", result.stdout[:200]
    if folder is not None:
        assert files_under(folder) == sorted(before)
