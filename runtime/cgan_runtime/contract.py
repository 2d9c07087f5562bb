"""The ONNX contract between `cgan-export` and every runtime, defined once.

This module is torch-free on purpose: the exporter imports it to write the
contract, the runtime imports it to check it, and an app in another language
can read the same names from the README.

A generator file has two inputs, one optional input and one output:

    noise          float32 [N, nz]
    label          int64   [N]
    label_weights  float32 [N, num_classes]   optional; format version 2 and later
    image          float32 [N, C, H, W], values in `output_range`

and carries a `ModelSpec` plus provenance in the model's `metadata_props`.

`label_weights` lets a caller condition on a mix of classes. It is an
"overridable initializer": a graph input that is also an initializer of
zeros, shape [1, num_classes], so a caller that feeds only noise and label
gets exactly the version-1 output. Inside the graph every class lookup
`table[label]` becomes

    (1 - sum(w, axis=1)) * table[label] + w @ table

so weights summing to 1 give the weighted mean of the class embeddings
whatever the label, and one-hot weights give exactly the label's own row.
The input's batch dim is unnamed (omitted, it has 1 row, not N), and
onnxruntime logs one warning when it loads such a file ("Initializer
label_weights appears in graph inputs"): that is the default at work. The
Python runtime silences it and web/cgan-edge.js loads a copy without the
default, but a plain onnxruntime embedder sees it at each load. No other form
keeps both promises (noise+label callers get version-1 images, mixing callers
pass weights) in every onnxruntime: a required input breaks noise+label
callers, and an ONNX optional-typed input (If on OptionalHasElement, opset 15
on) loads silently and may be left out in onnxruntime's Python and C APIs, but
onnxruntime-node and onnxruntime-web refuse a run that leaves any input out.
The unfolded default costs no measurable time (bench/default_weights.py).

Portable noise (`noise.py` in Python, web/noise.js in JavaScript): a seed is an
integer 0 <= seed < 2^53, split into seed_lo = seed mod 2^32 and
seed_hi = seed div 2^32. The j-th occurrence (counting from 0) of label L in a
request gets noise row j of L, whose element k (0 <= k < nz) is

    h(c) = MurmurHash3_x86_32 with hash seed 0 of the 20 bytes
           le32(seed_lo) le32(seed_hi) le32(L) le32(j) le32(c)
    u1 = (h(2k) + 1) / 2^32        in (0, 1]
    u2 = h(2k + 1) / 2^32          in [0, 1)
    z  = sqrt(-2 ln u1) * cos(2 pi u2), in float64, then rounded to float32

so an image depends only on (seed, label, j), in any language. The test
vectors are in tests/test_noise.py and the README.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

INPUT_NOISE = "noise"
INPUT_LABEL = "label"
INPUT_LABEL_WEIGHTS = "label_weights"  # optional, from LABEL_WEIGHTS_SINCE on
OUTPUT_IMAGE = "image"

# Bumped whenever a runtime built for the old layout could misread a new file.
# Version 2 added the optional `label_weights` input; version-1 files still load
# and generate from integer labels, they just cannot mix classes.
FORMAT_VERSION = 2  # what this package writes
LABEL_WEIGHTS_SINCE = 2  # the first version whose files must take `label_weights`
SUPPORTED_FORMAT_VERSIONS = (1, 2)
DEFAULT_OPSET = 18  # the torch.export-based exporter's native opset: no version conversion
MIN_OPSET = 17

# metadata_props keys. Every value is a string (ONNX allows nothing else);
# structured values are JSON.
KEY_FORMAT_VERSION = "cgan.format_version"
KEY_SPEC = "cgan.spec"
KEY_TRAINING_STEPS = "cgan.training_steps"
KEY_SOURCE_SHA256 = "cgan.source_sha256"
KEY_PACKAGE_VERSION = "cgan.package_version"
KEY_PRECISION = "cgan.precision"
KEY_RECIPE = "cgan.recipe"  # the training recipe (network plus hyper-parameters); absent in older files

MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a generator's shape that a runtime needs to drive it.

    It travels inside the training checkpoint and the ONNX metadata, so the
    runtime can rebuild it from the ONNX file alone.
    """

    arch: str = "mlp"  # the network, by its name in training (cgan_train.models.NETWORKS); "arch" in the file
    nz: int = 100
    num_classes: int = 10
    class_names: tuple[str, ...] = MNIST_CLASS_NAMES
    image_shape: tuple[int, int, int] = (1, 28, 28)  # C, H, W
    output_range: tuple[float, float] = (-1.0, 1.0)
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        # JSON and torch.load give lists back; keep the frozen value hashable.
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "output_range", tuple(float(v) for v in self.output_range))
        if self.nz < 1 or self.num_classes < 1:
            raise ValueError(f"nz and num_classes must be positive, got nz={self.nz}, num_classes={self.num_classes}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"expected {self.num_classes} class names, got {len(self.class_names)}")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        lo, hi = self.output_range
        if not lo < hi:
            raise ValueError(f"output_range must be (low, high) with low < high, got {self.output_range}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model spec fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class Provenance:
    """Where an exported file came from; informational, never needed to run it."""

    training_steps: int = 0
    source_sha256: str = ""
    package_version: str = ""
    precision: str = "fp32"
    recipe: str = ""  # "" when unknown: then no KEY_RECIPE entry is written


def to_metadata(spec: ModelSpec, provenance: Provenance) -> dict[str, str]:
    """The metadata_props an exported generator carries."""
    return {
        KEY_FORMAT_VERSION: str(FORMAT_VERSION),
        KEY_SPEC: json.dumps(spec.to_dict(), sort_keys=True),
        KEY_TRAINING_STEPS: str(provenance.training_steps),
        KEY_SOURCE_SHA256: provenance.source_sha256,
        KEY_PACKAGE_VERSION: provenance.package_version,
        KEY_PRECISION: provenance.precision,
    } | ({KEY_RECIPE: provenance.recipe} if provenance.recipe else {})


def format_version(metadata: Mapping[str, str]) -> int:
    """The file's contract version, one this runtime reads; ValueError otherwise."""
    version = metadata.get(KEY_FORMAT_VERSION)
    if version is None:
        raise ValueError(f"metadata has no '{KEY_FORMAT_VERSION}': not a cgan-edge generator")
    if version not in [str(v) for v in SUPPORTED_FORMAT_VERSIONS]:
        readable = ", ".join(str(v) for v in SUPPORTED_FORMAT_VERSIONS)
        raise ValueError(f"format version {version} is not supported (this runtime reads versions {readable})")
    return int(version)


def spec_from_metadata(metadata: Mapping[str, str]) -> ModelSpec:
    """Read the ModelSpec back; ValueError says what is missing or wrong."""
    format_version(metadata)
    raw = metadata.get(KEY_SPEC)
    if raw is None:
        raise ValueError(f"metadata has no '{KEY_SPEC}'")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"metadata '{KEY_SPEC}' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"metadata '{KEY_SPEC}' must be a JSON object")
    _check_json_types(data)
    try:
        return ModelSpec.from_dict(data)
    except TypeError as exc:
        raise ValueError(f"metadata '{KEY_SPEC}' is malformed: {exc}") from None


def _check_json_types(data: Mapping[str, Any]) -> None:
    """ValueError for a spec field of the wrong JSON type, which ModelSpec would convert (4.5 -> 4) or
    stumble over ("8" < 1): nz and num_classes integers, image_shape integers, output_range numbers."""

    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for name in ("nz", "num_classes"):
        if name in data and not integer(data[name]):
            raise ValueError(f"spec {name} must be an integer, got {data[name]!r}")
    shape = data.get("image_shape", [1])
    if not isinstance(shape, list) or not all(integer(side) for side in shape):
        raise ValueError(f"spec image_shape must be a list of integers (C, H, W), got {shape!r}")
    bounds = data.get("output_range", [0, 1])
    if not isinstance(bounds, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bounds):
        raise ValueError(f"spec output_range must be two numbers, got {bounds!r}")
