"""Training checkpoints: plain dicts of tensors and primitives, read with weights_only=True.

Every way a file can be wrong is an ordinary exception with a one-line message:
FileNotFoundError when it is absent, ValueError when it is not a usable checkpoint.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch

from cgan_runtime.contract import ModelSpec
from cgan_runtime.files import atomic_write

from .models import build_generator

FORMAT = "cgan-edge-checkpoint"
FORMAT_VERSION = 1
# What every checkpoint holds; a training checkpoint holds RESUME_KEYS too.
REQUIRED_KEYS = ("spec", "generator")
RESUME_KEYS = ("train_config", "discriminator", "generator_ema", "opt_g", "opt_d", "epoch", "step", "best_score")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint and check its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run the file's code.
        raise ValueError(f"{path} is not a readable cgan-edge checkpoint (not a file of plain tensors)") from None
    except Exception as exc:  # torch raises many types for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a readable cgan-edge checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cgan-edge checkpoint")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {ckpt.get('format_version')}; "
            f"this cgan-edge reads version {FORMAT_VERSION}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"{path} is incomplete: no {', '.join(missing)}")
    return ckpt


def check_resumable(ckpt: dict[str, Any], path: Path) -> None:
    """A checkpoint to resume from must hold the whole training state."""
    missing = [key for key in RESUME_KEYS if key not in ckpt]
    if missing:
        raise ValueError(f"{path} cannot be resumed: no {', '.join(missing)}")


def load_weights(module: torch.nn.Module, weights: Any, what: str) -> None:
    """`load_state_dict`, with a wrong or mismatched state as a one-line ValueError."""
    if not isinstance(weights, dict):
        raise ValueError(f"checkpoint's {what} is not a state dict")
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:  # missing/unexpected keys or shapes that disagree with the spec
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise ValueError(f"checkpoint's {what} does not match its spec: {first}") from None


def inference_generator(ckpt: dict[str, Any]) -> tuple[torch.nn.Module, ModelSpec]:
    """The generator to sample from, in eval mode: the weight average when training kept one."""
    if not isinstance(ckpt.get("spec"), dict):
        raise ValueError("checkpoint has no model spec")
    try:
        spec = ModelSpec.from_dict(ckpt["spec"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint's model spec is malformed: {exc}") from None
    generator = build_generator(spec)  # ValueError for an unknown arch
    ema = ckpt.get("generator_ema")
    load_weights(generator, ema if ema is not None else ckpt.get("generator"), "generator")
    return generator.eval(), spec


def recipe_of(ckpt: dict[str, Any]) -> str:
    """The training recipe's name ("" when the checkpoint does not say), for the ONNX metadata."""
    config = ckpt.get("train_config")
    if not isinstance(config, dict):
        return ""
    return str(config.get("recipe") or config.get("arch") or "")  # "arch": runs from before the rename


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
