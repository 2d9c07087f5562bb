"""The generator under test, in every form the suite times: torch eager and the exported ONNX variants.

fp32 goes through `cgan-export`'s own `export_checkpoint`, so what is timed
is exactly what users ship, verified against torch. fp16 and int8 apply the
exporter's graph rewrites to that fp32 file; their accuracy check is
cgan-export's job (it needs MNIST and minutes), not the benchmark's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
from cgan_export.exporter import default_output, export_checkpoint
from cgan_export.graph import fp16_weights, int8_weights, set_metadata
from cgan_train.checkpoint import file_sha256, inference_generator, load_checkpoint
from torch import nn

from cgan_runtime.contract import KEY_PRECISION, KEY_SOURCE_SHA256, ModelSpec
from cgan_runtime.files import atomic_write_bytes

VARIANTS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Subject:
    """One trained generator and its exported files (variant -> path)."""

    ckpt: Path
    spec: ModelSpec
    generator: nn.Module
    onnx: dict[str, Path]

    @property
    def arch(self) -> str:
        return self.spec.arch


def prepare(ckpt: Path, onnx_dir: Path, variants: Sequence[str] = VARIANTS) -> Subject:
    """Load `ckpt` and make sure onnx_dir holds ARCH.onnx, ARCH.fp16.onnx, ARCH.int8.onnx from it.

    Files already there are reused when their metadata names this
    checkpoint's sha256, and rebuilt otherwise: a stale file would time the
    wrong model.
    """
    generator, spec = inference_generator(load_checkpoint(ckpt))
    source = file_sha256(ckpt)
    onnx_dir.mkdir(parents=True, exist_ok=True)
    paths = {variant: default_output(onnx_dir / f"{spec.arch}.pt", variant) for variant in VARIANTS}
    if not _exported_from(paths["fp32"], source):
        export_checkpoint(ckpt, paths["fp32"], precision="fp32")
    fp32 = None
    for variant in variants:
        if variant == "fp32" or _exported_from(paths[variant], source):
            continue
        fp32 = fp32 or onnx.load(paths["fp32"])
        model = fp16_weights(fp32) if variant == "fp16" else int8_weights(fp32, spec)
        set_metadata(model, {**_metadata(fp32), KEY_PRECISION: variant})
        atomic_write_bytes(paths[variant], model.SerializeToString())
    return Subject(ckpt, spec, generator, {variant: paths[variant] for variant in variants})


def _exported_from(path: Path, source_sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        return _metadata(onnx.load(path)).get(KEY_SOURCE_SHA256) == source_sha256
    except Exception:  # an unreadable file is rebuilt like a stale one
        return False


def _metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in model.metadata_props}
