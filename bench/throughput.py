"""Generation throughput: one trained generator through onnxruntime (each variant) and torch eager.

Each path gets the same labels and noise at each batch size and is timed
with the same `Timing`; images/s becomes GFLOP/s through the FLOPs counted
from the generator's layers (see flops.py), and then a share of the
matrix-multiply ceiling measured in the same run (see ceiling.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from cgan_runtime import Generator
from cgan_runtime.noise import noise_for_labels

from . import ceiling, flops
from .models import Subject
from .report import markdown_table, number
from .timing import Timing

# (labels, noise) -> a no-argument call that generates that batch: what `Timing` times.
MakeCall = Callable[[np.ndarray, np.ndarray], Callable[[], object]]

CHAIN = "MatMul chain (onnxruntime, layer shapes only)"
INT8_NOTE = (
    "_int8 does the same multiply-adds in 8-bit integers; its GFLOP/s count them as float32 FLOPs, so its "
    "share of the float32 ceiling shows the speed-up, not an efficiency._"
)


def measure(subject: Subject, batches: Sequence[int], threads: int, timing: Timing) -> dict[str, Any]:
    """Images/s and GFLOP/s for every path at every batch size (`against` adds the ceiling's share)."""
    layers = flops.layers(subject.generator, subject.spec)
    per_image = flops.flops_per_image(layers)
    chain = flops.linear_chain(layers)
    inputs = {}
    for batch in batches:
        labels = np.arange(batch, dtype=np.int64) % subject.spec.num_classes
        inputs[batch] = labels, noise_for_labels(labels, subject.spec.nz, seed=0)
    rows = []
    for path, make_call in _runners(subject, threads).items():
        for batch, (labels, noise) in inputs.items():
            images_per_s = batch / timing.seconds_per_call(make_call(labels, noise))
            rows.append(_row(path, batch, images_per_s, per_image))
    if chain is not None:
        for batch in batches:
            gflops = ceiling.ort_matmul_chain(chain, batch, threads, timing)
            rows.append(_row(CHAIN, batch, gflops * 1e9 / per_image, per_image))
    return {
        "arch": subject.arch,
        "checkpoint": str(subject.ckpt),
        "flops_per_image": per_image,
        "layers": [asdict(layer) for layer in layers],
        "threads": threads,
        "rows": rows,
    }


def against(result: dict[str, Any], ceiling_gflops: float) -> dict[str, Any]:
    """`result` with each row's GFLOP/s as a percentage of the matrix-multiply ceiling."""
    rows = [{**row, "percent_of_ceiling": 100 * row["gflops"] / ceiling_gflops} for row in result["rows"]]
    return {**result, "ceiling_gflops": ceiling_gflops, "rows": rows}


def _runners(subject: Subject, threads: int) -> dict[str, MakeCall]:
    # Through the shipped Generator, so its input checks and batching are part of what is timed.
    runners = {
        f"onnxruntime {variant}": _onnx_call(Generator(path, provider="cpu", threads=threads))
        for variant, path in subject.onnx.items()
    }
    torch.set_num_threads(threads)
    runners["torch eager"] = _torch_call(subject.generator)
    return runners


def _onnx_call(generator: Generator) -> MakeCall:
    def make(labels: np.ndarray, noise: np.ndarray) -> Callable[[], object]:
        return lambda: generator.generate_raw(labels, noise=noise, batch_size=len(labels))

    return make


def _torch_call(generator: nn.Module) -> MakeCall:
    def make(labels: np.ndarray, noise: np.ndarray) -> Callable[[], object]:
        labels_t, noise_t = torch.from_numpy(labels), torch.from_numpy(noise)

        def call() -> object:
            with torch.inference_mode():
                return generator(noise_t, labels_t)

        return call

    return make


def _row(path: str, batch: int, images_per_s: float, flops_per_image: int) -> dict[str, Any]:
    return {"path": path, "batch": batch, "images_per_s": images_per_s, "gflops": images_per_s * flops_per_image / 1e9}


def table(result: dict[str, Any]) -> str:
    rows = [
        [
            row["path"],
            row["batch"],
            number(row["images_per_s"]),
            number(row["gflops"], 1),
            number(row["percent_of_ceiling"], 1),
        ]
        for row in result["rows"]
    ]
    text = markdown_table(["path", "batch", "images/s", "GFLOP/s", "% of ceiling"], rows)
    if any(row["path"] == "onnxruntime int8" for row in result["rows"]):
        text += "\n\n" + INT8_NOTE
    return text
