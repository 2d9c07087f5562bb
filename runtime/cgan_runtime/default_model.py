"""Find the generator shipped inside the package, and check it is the file we shipped.

The `cgan_runtime.assets` package holds `default_model.json`, which names the
ONNX file beside it and its sha256: a truncated or swapped file fails loudly
instead of producing wrong digits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

ASSETS_PACKAGE = "cgan_runtime.assets"
MANIFEST = "default_model.json"


def default_model_path() -> Path:
    """Path of the shipped generator, after checking its sha256.

    FileNotFoundError when no default model is installed, ValueError when the
    manifest is malformed or the file does not match its checksum.
    """
    assets = assets_folder()
    if assets is None or not (assets / MANIFEST).is_file():
        raise FileNotFoundError(
            "no default model is installed in cgan_runtime.assets; pass a model path (cgan-gen --model PATH)"
        )
    manifest = assets / MANIFEST
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))
        name, expected = str(entry["file"]), str(entry["sha256"]).lower()
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f'{manifest} is malformed (expected {{"file": ..., "sha256": ...}}): {exc}') from None
    path = assets / name
    if not path.is_file():
        raise FileNotFoundError(f"{manifest} names {name}, which is missing; reinstall cgan-edge or pass a model path")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ValueError(f"default model {path} is corrupt: sha256 {actual}, expected {expected}")
    return path


def assets_folder() -> Path | None:
    """The folder of the installed `cgan_runtime.assets` package, or None when there is none.

    Found from the package's import spec rather than `importlib.resources`, whose import costs
    cgan-gen ~5-15 ms at start-up; onnxruntime needs a real file anyway, never one inside a zip.
    """
    try:
        spec = importlib.util.find_spec(ASSETS_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
