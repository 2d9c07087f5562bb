"""Training checkpoints: plain dicts of tensors and primitives, read with weights_only=True.

Every way a file can be wrong is an ordinary exception with a one-line message:
FileNotFoundError when it is absent, ValueError when it is not a usable checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from cgan_runtime.contract import ModelSpec
from cgan_runtime.files import write_output

from .models import build_generator

FORMAT = "cgan-edge-checkpoint"
FORMAT_VERSION = 1
# What every checkpoint holds; a training checkpoint holds RESUME_KEYS too.
REQUIRED_KEYS = ("spec", "generator")
RESUME_KEYS = ("train_config", "discriminator", "generator_ema", "opt_g", "opt_d", "epoch", "step", "best_score")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` atomically; OSError "cannot write PATH: REASON" when the machine refuses.

    Serialised in memory first, then written in one go: torch's zip writer turns a failure
    inside its own writes (a full disk, Ctrl-C, SIGTERM) into "[enforce fail ...] unexpected
    pos", hiding the cause; here the cause reaches the caller as itself.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    write_output(path, buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint and check its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns in two lines about a legacy file before failing on it
            warnings.simplefilter("ignore", UserWarning)
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
    ema = ckpt.get("generator_ema")
    weights = ema if ema is not None else ckpt.get("generator")
    check_weights_fit(spec, weights, "generator")  # before building: a spec may claim 3x1024x1024
    generator = build_generator(spec)
    load_weights(generator, weights, "generator")
    return generator.eval(), spec


def check_weights_fit(spec: ModelSpec, weights: Any, what: str) -> None:
    """ValueError unless `weights` are finite tensors of exactly the shapes `spec`'s generator has.

    The generator is built on torch's meta device, which allocates nothing, so a spec that
    lies about its size costs nothing to refuse. Weights holding NaN or infinity would make
    black images (or an infinite FID) that every later step reports as a success.
    """
    if not isinstance(weights, dict):
        raise ValueError(f"checkpoint's {what} is not a state dict")
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in build_generator(spec).state_dict().items()}  # ValueError: unknown arch
    for key in sorted(set(expected) | set(weights)):
        value = weights.get(key)
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else None
        if got != expected.get(key):
            wanted = "nothing" if key not in expected else f"shape {list(expected[key])}"
            has = "nothing" if got is None else f"shape {list(got)}"
            raise ValueError(f"checkpoint's {what} does not match its spec: {key} should be {wanted}, the file has {has}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"checkpoint's {what} holds NaN or infinity (in {key}): these weights cannot make images")


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
