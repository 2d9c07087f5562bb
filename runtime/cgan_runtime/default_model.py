"""Find the generator shipped inside the package, and check it is the file we shipped.

The `cgan_runtime.assets` package holds `default_model.json`, which names the
ONNX file beside it and its sha256: a truncated or swapped file fails loudly
instead of producing wrong digits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ASSETS_PACKAGE = "cgan_runtime.assets"
MANIFEST = "default_model.json"


def default_model_path() -> Path:
    """Path of the shipped generator, after checking its sha256.

    FileNotFoundError when no default model is installed, ValueError when the
    manifest is malformed or the file does not match its checksum.
    """
    # Imported here: importlib.resources costs ~15 ms that runs naming their model need not pay.
    from importlib.resources import files

    try:
        assets = files(ASSETS_PACKAGE)
        installed = (assets / MANIFEST).is_file()
    except (ImportError, OSError):  # no assets package, or an editable install whose folder is absent
        installed = False
    if not installed:
        raise FileNotFoundError(
            "no default model is installed in cgan_runtime.assets; pass a model path (cgan-gen --model PATH)"
        )
    manifest = assets / MANIFEST
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))
        name, expected = str(entry["file"]), str(entry["sha256"]).lower()
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f'{manifest} is malformed (expected {{"file": ..., "sha256": ...}}): {exc}') from None
    path = Path(str(assets / name))
    if not path.is_file():
        raise FileNotFoundError(f"{manifest} names {name}, which is missing; reinstall cgan-edge or pass a model path")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ValueError(f"default model {path} is corrupt: sha256 {actual}, expected {expected}")
    return path
