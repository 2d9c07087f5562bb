"""Check a loaded onnxruntime session against the ONNX contract before anything runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import (
    INPUT_LABEL,
    INPUT_LABEL_WEIGHTS,
    INPUT_NOISE,
    LABEL_WEIGHTS_SINCE,
    OUTPUT_IMAGE,
    ModelSpec,
    format_version,
    spec_from_metadata,
)
from .inputs import is_int

# Far beyond any generator this package trains, small enough that one row of
# noise or one image cannot exhaust memory on its own: a file claiming more lies.
MAX_NZ = 1 << 16
MAX_IMAGE_SIDE = 4096
CHANNELS = (1, 3)  # grey or RGB: what the image writers take

# The contract in onnxruntime's spelling: type string, rank, and how to say it to a person.
_INPUTS = {
    INPUT_NOISE: ("tensor(float)", 2, "float32 [N, nz]"),
    INPUT_LABEL: ("tensor(int64)", 1, "int64 [N]"),
}
_OUTPUTS = {
    OUTPUT_IMAGE: ("tensor(float)", 4, "float32 [N, C, H, W]"),
}


def spec_from_session(session: Any) -> ModelSpec:
    """The ModelSpec of a session whose inputs, outputs and metadata follow the contract.

    ValueError says what was expected and what the file has.
    """
    inputs = {arg.name: arg for arg in session.get_inputs()}
    outputs = {arg.name: arg for arg in session.get_outputs()}
    _check_args("input", inputs, _INPUTS)
    _check_args("output", outputs, _OUTPUTS)
    spec = spec_from_metadata(session.get_modelmeta().custom_metadata_map)
    _check_sizes(spec)
    # Dimensions are checked only where the file fixes them; N always varies.
    _check_static_dims(f"input '{INPUT_NOISE}'", inputs[INPUT_NOISE].shape[1:], (spec.nz,))
    _check_static_dims(f"output '{OUTPUT_IMAGE}'", outputs[OUTPUT_IMAGE].shape[1:], spec.image_shape)
    _check_runs(session, spec)
    return spec


def _check_sizes(spec: ModelSpec) -> None:
    """The spec's numbers are integers of a sane size (JSON metadata may say 8.0, true or 10**12)."""
    numbers = {"nz": spec.nz, "num_classes": spec.num_classes}
    for name, value in numbers.items():
        if not is_int(value):
            raise ValueError(f"spec {name} must be an integer, got {value!r}")
    if spec.nz > MAX_NZ:
        raise ValueError(f"spec nz {spec.nz} is larger than the {MAX_NZ} a generator may have")
    channels, height, width = spec.image_shape
    if channels not in CHANNELS or max(height, width) > MAX_IMAGE_SIDE:
        raise ValueError(
            f"spec image_shape {list(spec.image_shape)} is not (C, H, W) with C in {CHANNELS} "
            f"and sides of at most {MAX_IMAGE_SIDE}"
        )


def _check_runs(session: Any, spec: ModelSpec) -> None:
    """Run the first and last class once: a graph made for fewer classes, or whose output
    differs from the spec where the file leaves dims dynamic, fails here, not mid-request."""
    labels = np.array(sorted({0, spec.num_classes - 1}), dtype=np.int64)
    noise = np.zeros((len(labels), spec.nz), dtype=np.float32)
    try:
        (image,) = session.run([OUTPUT_IMAGE], {INPUT_NOISE: noise, INPUT_LABEL: labels})
    except Exception as exc:  # onnxruntime's errors share no base class narrower than Exception
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"running it for labels {labels.tolist()} ({spec.num_classes} classes per the spec) failed: {first_line}"
        ) from None
    expected = (len(labels), *spec.image_shape)
    if image.shape != expected:
        raise ValueError(f"output 'image' has shape {list(image.shape)}, but the metadata spec says {list(expected)}")
    check_finite(image, f"labels {labels.tolist()} and zero noise")


def check_finite(image: np.ndarray, what: str) -> None:
    """ValueError when a model's output holds NaN or infinity: its weights are broken, and its images would be
    black or white, never right."""
    if not np.isfinite(image).all():
        raise ValueError(f"the model's output for {what} holds NaN or infinity: its weights are not finite numbers")


def _check_args(kind: str, args: dict[str, Any], expected: dict[str, tuple[str, int, str]]) -> None:
    if set(args) != set(expected):
        raise ValueError(f"expected {kind}s {sorted(expected)}, got {sorted(args)}")
    for name, arg in args.items():
        type_, rank, described = expected[name]
        if arg.type != type_ or len(arg.shape) != rank:
            raise ValueError(f"{kind} '{name}' must be {described}, got {arg.type} with shape {arg.shape}")


def _check_static_dims(what: str, dims: list[Any], spec_dims: tuple[int, ...]) -> None:
    fixed = [(d, s) for d, s in zip(dims, spec_dims, strict=True) if isinstance(d, int)]
    if any(d != s for d, s in fixed):
        raise ValueError(f"{what} has dims {list(dims)} after N, but the metadata spec says {list(spec_dims)}")


def mixing_input(session: Any, spec: ModelSpec) -> bool:
    """Whether the session takes class weights: True for format version 2 on, whose files
    must carry `label_weights` float32 [N, num_classes] as an overridable initializer."""
    if format_version(session.get_modelmeta().custom_metadata_map) < LABEL_WEIGHTS_SINCE:
        return False
    weights = {arg.name: arg for arg in session.get_overridable_initializers()}.get(INPUT_LABEL_WEIGHTS)
    described = f"float32 [N, {spec.num_classes}] with default zeros"
    if weights is None:
        raise ValueError(f"format version {LABEL_WEIGHTS_SINCE} needs an optional input '{INPUT_LABEL_WEIGHTS}' ({described})")
    if weights.type != "tensor(float)" or len(weights.shape) != 2:
        raise ValueError(f"input '{INPUT_LABEL_WEIGHTS}' must be {described}, got {weights.type} with shape {weights.shape}")
    _check_static_dims(f"input '{INPUT_LABEL_WEIGHTS}'", weights.shape[1:], (spec.num_classes,))
    return True
