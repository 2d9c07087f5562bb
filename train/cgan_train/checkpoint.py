"""Training checkpoints: plain dicts of tensors and primitives, read with weights_only=True."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch

from cgan_runtime.contract import ModelSpec
from cgan_runtime.errors import UserError
from cgan_runtime.files import atomic_write

from .models import build_generator

FORMAT = "cgan-edge-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; every way it can be wrong is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run the file's code.
        raise UserError(f"{path} is not a readable cgan-edge checkpoint (not a file of plain tensors)") from None
    except Exception as exc:  # torch raises many types for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a readable cgan-edge checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a cgan-edge checkpoint")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path} has checkpoint format version {ckpt.get('format_version')}; "
            f"this cgan-edge reads version {FORMAT_VERSION}"
        )
    return ckpt


def inference_generator(ckpt: dict[str, Any]) -> tuple[torch.nn.Module, ModelSpec]:
    """The generator to sample from, in eval mode: the weight average when training kept one."""
    spec = ModelSpec.from_dict(ckpt["spec"])
    generator = build_generator(spec)
    generator.load_state_dict(ckpt.get("generator_ema") or ckpt["generator"])
    return generator.eval(), spec


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
