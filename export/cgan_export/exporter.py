"""Checkpoint -> one verified, self-describing ONNX generator.

Nothing is written until the file has passed onnx's full checker, loaded in
the runtime's own `Generator` (which checks the contract), and matched torch
on fresh noise for every label at several batch sizes.

Library code: every failure is an ordinary exception (ValueError for a bad
option or a checkpoint that does not hold together, FileNotFoundError,
OSError, RuntimeError for a graph that fails its checks); `cgan-export` maps
them to one line and an exit code.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

import cgan_runtime
from cgan_runtime.contract import DEFAULT_OPSET, MIN_OPSET, ModelSpec, Provenance, to_metadata
from cgan_runtime.files import write_output
from cgan_train.checkpoint import file_sha256, inference_generator, load_checkpoint, recipe_of
from cgan_train.config import TrainConfig
from cgan_train.sources import DEFAULT_DATA_DIR, DataSource

from .class_weights_graph import (
    ONE_HOT_TOLERANCE,
    PARITY_BATCHES,
    add_class_weights,
    checker_failure,
    one_hot_difference,
)
from .graph import MAX_OPSET, export_onnx, fp16_weights, int8_weights, opset_of, set_metadata

PRECISIONS = ("fp32", "fp16", "int8")
FP32_TOLERANCE = 1e-5
MAX_ACCURACY_LOSS = 0.5  # percentage points a smaller variant may lose against fp32
ACCURACY_PER_LABEL = 1000  # samples per label behind the accuracy guard


@dataclass
class ExportReport:
    path: str
    precision: str
    size_bytes: int
    opset: int  # read back from the written graph, never the request
    nodes_before: int  # as torch exported them
    nodes_after: int  # in the written file: folded, then quantized and given class weights as asked
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch size -> vs torch
    label_accuracy: dict[str, float] = field(default_factory=dict)  # precision -> percent
    one_hot_max_abs_diff: float = 0.0  # one-hot class weights vs integer labels

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        diffs = ", ".join(f"N={n}: {d:.2e}" for n, d in self.max_abs_diff.items())
        lines = [
            f"wrote {self.path} ({self.precision}, opset {self.opset}, {self.size_bytes / 1e6:.2f} MB)",
            f"  graph: {self.nodes_before} nodes from torch -> {self.nodes_after} in the file",
            f"  max |onnxruntime - torch|: {diffs}",
            f"  max |one-hot class weights - integer labels|: {self.one_hot_max_abs_diff:.2e}",
        ]
        if self.label_accuracy:
            accs = ", ".join(f"{k} {v:.2f}%" for k, v in self.label_accuracy.items())
            lines.append(f"  label accuracy: {accs}")
        return "\n".join(lines)


def default_output(ckpt: Path, precision: str) -> Path:
    suffix = ".onnx" if precision == "fp32" else f".{precision}.onnx"
    return ckpt.with_suffix(suffix)


def check_options(precision: str, opset: int) -> None:
    """ValueError for an option the export cannot honour, before any work is done."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset} is not supported: choose {MIN_OPSET} to {MAX_OPSET}")


def export_checkpoint(
    ckpt_path: Path,
    out_path: Path | None = None,
    opset: int = DEFAULT_OPSET,
    precision: str = "fp32",
    data_dir: Path | None = None,
) -> ExportReport:
    """Export, verify and write. fp16 and int8 are scored on the data the checkpoint was trained
    on (see `training_data`); `data_dir` says where that data lives when it has moved."""
    check_options(precision, opset)
    out_path = out_path or default_output(ckpt_path, precision)

    ckpt = load_checkpoint(ckpt_path)
    generator, spec = _generator(ckpt, ckpt_path)
    fp32, nodes_before = export_onnx(generator, spec, opset)
    written_opset = opset_of(fp32)
    if written_opset != opset:
        raise RuntimeError(f"the exporter wrote opset {written_opset}, not the {opset} asked for; "
                           f"use --opset {written_opset}")
    provenance = Provenance(
        training_steps=int(ckpt.get("step", 0)),
        source_sha256=file_sha256(ckpt_path),
        package_version=cgan_runtime.__version__,
        precision=precision,
        recipe=recipe_of(ckpt),
    )
    set_metadata(fp32, to_metadata(spec, provenance))
    if precision == "fp32":
        model = fp32
    elif precision == "fp16":
        model = fp16_weights(fp32)
    else:
        model = int8_weights(fp32, spec)
    # Last, so the quantizer never sees the weights' MatMuls and the class tables stay exact.
    model = add_class_weights(model)
    failure = checker_failure(model)
    if failure is not None:
        raise RuntimeError(f"exported graph failed onnx's checker: {failure}")
    data = model.SerializeToString()

    report = ExportReport(
        path=str(out_path), precision=precision, size_bytes=len(data), opset=opset_of(model),
        nodes_before=nodes_before, nodes_after=len(model.graph.node),
    )
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "candidate.onnx"
        candidate.write_bytes(data)
        report.max_abs_diff = _parity(generator, candidate, spec.nz, spec.num_classes)
        report.one_hot_max_abs_diff = one_hot_difference(candidate)
        if report.one_hot_max_abs_diff > ONE_HOT_TOLERANCE:
            raise RuntimeError(
                f"one-hot class weights differ from integer labels by {report.one_hot_max_abs_diff:.2e} "
                f"(> {ONE_HOT_TOLERANCE:g}); not written"
            )
        if precision == "fp32":
            worst = max(report.max_abs_diff.values())
            if worst > FP32_TOLERANCE:
                raise RuntimeError(f"onnxruntime differs from torch by {worst:.2e} (> {FP32_TOLERANCE:g}); not written")
        else:
            reference = Path(tmp) / "fp32.onnx"
            reference.write_bytes(add_class_weights(fp32).SerializeToString())  # the contract its metadata claims
            report.label_accuracy = _label_accuracies(
                {"fp32": reference, precision: candidate}, training_data(ckpt, spec, data_dir))
            loss = report.label_accuracy["fp32"] - report.label_accuracy[precision]
            if loss > MAX_ACCURACY_LOSS:
                raise RuntimeError(
                    f"{precision} loses {loss:.2f} points of label accuracy against fp32 "
                    f"(limit {MAX_ACCURACY_LOSS}); not written"
                )
    write_output(out_path, data)
    return report


def _generator(ckpt: dict, path: Path) -> tuple[torch.nn.Module, ModelSpec]:
    """The checkpoint's inference generator; its one-line ValueError gains the file's name."""
    try:
        return inference_generator(ckpt)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


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
        got = runtime.generate_raw(labels.numpy(), noise=noise.numpy(), batch_size=n)
        diffs[n] = float(np.abs(got - expected).max())
    return diffs


def training_data(ckpt: dict, spec: ModelSpec, data_dir: Path | None) -> DataSource:
    """The data set the checkpoint's generator was trained on: its run's source (a set's name or a
    folder, image size, channels), read from `data_dir` when given, else from where the run read it."""
    if "train_config" not in ckpt:  # a hand-made checkpoint: its spec names the set
        return DataSource(spec.dataset, data_dir or Path(DEFAULT_DATA_DIR))
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    return cfg.data_source(data_dir or cfg.data_dir)


def _label_accuracies(models: dict[str, Path], source: DataSource) -> dict[str, float]:
    """Label accuracy in percent of each file, on the same noise, under the cached evaluation
    classifier: no FID, no floors, no Parzen; the guard needs one number per file."""
    from cgan_train.evaluation import data_classifier, label_accuracy
    from cgan_train.samplers import onnx_sampler

    classifier = data_classifier(source)
    result = {}
    for name, path in models.items():
        sample, nz = onnx_sampler(path, torch.device("cpu"))
        result[name] = 100 * label_accuracy(sample, nz, classifier, classifier.num_classes,
                                            per_label=ACCURACY_PER_LABEL)
    return result
