"""Checkpoint -> one verified, self-describing ONNX generator.

Nothing is written until the file has passed onnx's full checker, loaded in
the runtime's own `Generator` (which checks the contract), and matched torch
on fresh noise for every label at several batch sizes.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

import cgan_runtime
from cgan_runtime.contract import DEFAULT_OPSET, MIN_OPSET, Provenance, to_metadata
from cgan_runtime.errors import EXIT_USAGE, UserError
from cgan_runtime.files import check_writable, write_output
from cgan_train.checkpoint import file_sha256, inference_generator, load_checkpoint

from .graph import export_onnx, fp16_weights, int8_weights, set_metadata
from .mixing import ONE_HOT_TOLERANCE, add_class_weights, one_hot_difference

VARIANTS = ("fp32", "fp16", "int8")
PARITY_BATCHES = (1, 7, 256)
FP32_TOLERANCE = 1e-5
MAX_ACCURACY_LOSS = 0.5  # percentage points a smaller variant may lose against fp32


@dataclass
class ExportReport:
    path: str
    variant: str
    size_bytes: int
    opset: int
    nodes_before: int
    nodes_after: int
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch size -> vs torch
    label_accuracy: dict[str, float] = field(default_factory=dict)  # variant -> percent
    one_hot_max_abs_diff: float = 0.0  # one-hot class weights vs integer labels

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        diffs = ", ".join(f"N={n}: {d:.2e}" for n, d in self.max_abs_diff.items())
        lines = [
            f"wrote {self.path} ({self.variant}, opset {self.opset}, {self.size_bytes / 1e6:.2f} MB)",
            f"  graph: {self.nodes_before} nodes -> {self.nodes_after} after folding",
            f"  max |onnxruntime - torch|: {diffs}",
            f"  max |one-hot class weights - integer labels|: {self.one_hot_max_abs_diff:.2e}",
        ]
        if self.label_accuracy:
            accs = ", ".join(f"{k} {v:.2f}%" for k, v in self.label_accuracy.items())
            lines.append(f"  label accuracy: {accs}")
        return "\n".join(lines)


def default_output(ckpt: Path, variant: str) -> Path:
    suffix = ".onnx" if variant == "fp32" else f".{variant}.onnx"
    return ckpt.with_suffix(suffix)


def export_checkpoint(
    ckpt_path: Path,
    out_path: Path | None = None,
    opset: int = DEFAULT_OPSET,
    variant: str = "fp32",
    data_dir: Path | None = None,
) -> ExportReport:
    """Export, verify and write; `data_dir` (MNIST) is needed to check fp16/int8 accuracy."""
    if variant not in VARIANTS:
        raise UserError(f"unknown variant '{variant}' (choose from {', '.join(VARIANTS)})", EXIT_USAGE)
    if opset < MIN_OPSET:
        raise UserError(f"opset {opset} is too old: the contract needs >= {MIN_OPSET}", EXIT_USAGE)
    if variant != "fp32" and data_dir is None:
        raise UserError(f"checking the {variant} variant's accuracy needs --data-dir (MNIST)", EXIT_USAGE)
    out_path = out_path or default_output(ckpt_path, variant)
    check_writable(out_path)  # before minutes of work, not after

    ckpt = load_checkpoint(ckpt_path)
    generator, spec = inference_generator(ckpt)
    fp32, nodes_before = export_onnx(generator, spec, opset)
    provenance = Provenance(
        training_steps=int(ckpt["step"]),
        source_sha256=file_sha256(ckpt_path),
        package_version=cgan_runtime.__version__,
        precision=variant,
    )
    set_metadata(fp32, to_metadata(spec, provenance))
    model = {"fp32": lambda m: m, "fp16": fp16_weights, "int8": int8_weights}[variant](fp32)
    # Last, so the quantizer never sees the weights' MatMuls and the class tables stay exact.
    model = add_class_weights(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise UserError(f"exported graph failed onnx's checker: {str(exc).splitlines()[0]}") from None
    data = model.SerializeToString()

    report = ExportReport(
        path=str(out_path), variant=variant, size_bytes=len(data), opset=opset,
        nodes_before=nodes_before, nodes_after=len(fp32.graph.node),
    )
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "candidate.onnx"
        candidate.write_bytes(data)
        report.max_abs_diff = _parity(generator, candidate, spec.nz, spec.num_classes)
        report.one_hot_max_abs_diff = one_hot_difference(candidate)
        if report.one_hot_max_abs_diff > ONE_HOT_TOLERANCE:
            raise UserError(
                f"one-hot class weights differ from integer labels by {report.one_hot_max_abs_diff:.2e} "
                f"(> {ONE_HOT_TOLERANCE:g}); not written"
            )
        if variant == "fp32":
            worst = max(report.max_abs_diff.values())
            if worst > FP32_TOLERANCE:
                raise UserError(f"onnxruntime differs from torch by {worst:.2e} (> {FP32_TOLERANCE:g}); not written")
        else:
            reference = Path(tmp) / "fp32.onnx"
            reference.write_bytes(add_class_weights(fp32).SerializeToString())  # the contract its metadata claims
            report.label_accuracy = _accuracies({"fp32": reference, variant: candidate}, data_dir)
            loss = report.label_accuracy["fp32"] - report.label_accuracy[variant]
            if loss > MAX_ACCURACY_LOSS:
                raise UserError(
                    f"{variant} loses {loss:.2f} points of label accuracy against fp32 "
                    f"(limit {MAX_ACCURACY_LOSS}); not written"
                )
    write_output(out_path, data)
    return report


def _parity(generator: torch.nn.Module, onnx_path: Path, nz: int, num_classes: int) -> dict[int, float]:
    """Max |onnxruntime - torch| on fresh noise, every label, for each batch size."""
    from cgan_runtime import Generator

    runtime = Generator(onnx_path, provider="cpu")
    diffs = {}
    for n in PARITY_BATCHES:
        noise = torch.randn(n, nz)
        labels = torch.arange(n) % num_classes
        with torch.no_grad():
            expected = generator(noise, labels).numpy()
        got = runtime.generate_raw(labels.numpy(), noise.numpy(), batch_size=n)
        diffs[n] = float(np.abs(got - expected).max())
    return diffs


def _accuracies(models: dict[str, Path], data_dir: Path) -> dict[str, float]:
    """cgan-eval's label accuracy (1,000 samples per label, same noise) for each file."""
    from cgan_train.evaluation import Evaluator
    from cgan_train.samplers import onnx_sampler

    evaluator = Evaluator(data_dir, device="cpu")
    result = {}
    for name, path in models.items():
        sample, nz = onnx_sampler(path, torch.device("cpu"))
        result[name] = 100 * evaluator.full(sample, nz, parzen=False).label_accuracy
    return result
