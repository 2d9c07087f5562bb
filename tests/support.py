"""Plain helpers the tests import: fixture paths, shipping a fake default model, CLI results.

Torch- and onnx-free, like every runtime test.
"""

from __future__ import annotations

import hashlib
import json
import os
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
