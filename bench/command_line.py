"""The command line the bench modules that load a generator share: a description, and --model."""

from __future__ import annotations

import argparse
from pathlib import Path


def model_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of `doc` (the module's docstring), taking --model
    (a generator .onnx file; None for the shipped one)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="generator .onnx (default: the shipped one)")
    return parser
