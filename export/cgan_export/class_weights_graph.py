"""Give an exported generator the optional `label_weights` input (contract version 2).

Graph surgery on the ONNX file, so it works on any generator whose label
reaches the network only through class lookups `Gather(table, label)` on
constant tables: the MLP's nn.Embedding and a conv generator's conditional
BatchNorm embeddings alike, and on the fp32, fp16 and int8 variants, or on an
old file whose checkpoint is gone (`cgan-export --upgrade FILE.onnx`).

Every lookup becomes

    (1 - sum(w, axis=1)) * Gather(table, label) + MatMul(w, table)

with `w` an overridable initializer of zeros [1, num_classes]: omitted, the
graph computes exactly what it did before; one-hot, exactly the label's row.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cgan_runtime.contract import (
    FORMAT_VERSION,
    INPUT_LABEL,
    INPUT_LABEL_WEIGHTS,
    KEY_FORMAT_VERSION,
    KEY_SPEC,
    LABEL_WEIGHTS_SINCE,
)
from cgan_runtime.files import write_output

ONE_HOT_TOLERANCE = 1e-6  # one-hot weights against integer labels, max abs difference
PARITY_BATCHES = (1, 7, 256)  # the batch sizes every written file is compared at
# Ops a label may pass through on its way to a lookup without changing which row it picks.
_PASS_THROUGH = ("Cast", "Identity")


def add_class_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` that also takes `label_weights` float32 [N, num_classes].

    ValueError when the label is used other than as a lookup index, when a
    table is not a constant float32 [num_classes, D], or when the model takes
    class weights already.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    if any(value.name == INPUT_LABEL_WEIGHTS for value in graph.input):
        raise ValueError(f"the model already has a '{INPUT_LABEL_WEIGHTS}' input")
    metadata = {prop.key: prop.value for prop in out.metadata_props}
    num_classes = int(json.loads(metadata[KEY_SPEC])["num_classes"])
    lookups = _label_lookups(graph)
    shapes = _table_shapes(out)
    constants = _constant_names(graph)
    for node in lookups:
        table = node.input[0]
        if table not in constants:
            raise ValueError(f"class table '{table}' is not a constant")
        if shapes.get(table, (None, None))[0] != TensorProto.FLOAT or len(shapes[table][1]) != 2:
            raise ValueError(f"class table '{table}' must be float32 [num_classes, D], got {shapes.get(table)}")
        if shapes[table][1][0] not in (num_classes, None):
            raise ValueError(f"class table '{table}' has {shapes[table][1][0]} rows, the spec {num_classes} classes")

    # The batch dim is left unnamed: omitted, the weights have 1 row whatever N is, and a shared
    # name would let onnxruntime plan buffers as if they had N rows.
    graph.input.append(helper.make_tensor_value_info(INPUT_LABEL_WEIGHTS, TensorProto.FLOAT, [None, num_classes]))
    # An initializer that is also a graph input: callers may omit it, and then it is all zeros.
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.zeros((1, num_classes), np.float32), INPUT_LABEL_WEIGHTS),
            numpy_helper.from_array(np.array([1], np.int64), "label_weights__axes"),
            numpy_helper.from_array(np.array(1.0, np.float32), "label_weights__one"),
        ]
    )
    keep = "label_weights__keep"  # 1 - sum(w): how much of the integer label's row survives
    nodes = [
        helper.make_node(
            "ReduceSum", [INPUT_LABEL_WEIGHTS, "label_weights__axes"], ["label_weights__sum"], keepdims=1,
            name="label_weights__sum",
        ),
        helper.make_node("Sub", ["label_weights__one", "label_weights__sum"], [keep], name=keep),
    ]
    rewritten = {id(node) for node in lookups}
    for node in graph.node:
        nodes.append(node)
        if id(node) in rewritten:
            nodes.extend(_mix_lookup(node, keep))
    del graph.node[:]
    graph.node.extend(nodes)
    _set_prop(out, KEY_FORMAT_VERSION, str(FORMAT_VERSION))
    return out


def _label_lookups(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The Gather nodes that look the label up; ValueError if the label goes anywhere else."""
    indices = {INPUT_LABEL}
    lookups = []
    for node in graph.node:  # topologically sorted, so a Cast is seen before its users
        used = [name for name in node.input if name in indices]
        if not used:
            continue
        if node.op_type in _PASS_THROUGH:
            indices.update(node.output)
        elif node.op_type == "Gather" and list(node.input).index(used[0]) == 1 and len(used) == 1 and _axis(node) == 0:
            lookups.append(node)
        else:
            raise ValueError(f"the label reaches a {node.op_type} node ('{node.name}'), not only class lookups")
    if any(name in indices for name in (o.name for o in graph.output)):
        raise ValueError("the label reaches a graph output")
    if not lookups:
        raise ValueError("the label reaches no class lookup (Gather on a table)")
    return lookups


def _axis(node: onnx.NodeProto) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)


def _mix_lookup(node: onnx.NodeProto, keep: str) -> list[onnx.NodeProto]:
    """Nodes that turn the lookup's output into (keep * row + w @ table) under its old name."""
    result = node.output[0]
    row, kept, mixed = f"{result}__row", f"{result}__kept", f"{result}__mixed"
    node.output[0] = row
    return [
        helper.make_node("Mul", [keep, row], [kept], name=kept),
        helper.make_node("MatMul", [INPUT_LABEL_WEIGHTS, node.input[0]], [mixed], name=mixed),
        # Sum, not Add: onnxruntime fuses MatMul+Add into a Gemm whose bias may not be wider than
        # its product, which breaks when omitted weights ([1, C]) meet a batch of rows ([N, D]).
        helper.make_node("Sum", [kept, mixed], [result], name=f"{result}__mix"),
    ]


def _table_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, tuple[int | None, ...]]]:
    """Element type and dims (None where symbolic) of every initializer and inferred value."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        init.name: (init.data_type, tuple(int(d) for d in init.dims)) for init in model.graph.initializer
    }
    for value in inferred.graph.value_info:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        shapes.setdefault(value.name, (tensor.elem_type, dims))
    return shapes


def _constant_names(graph: onnx.GraphProto) -> set[str]:
    """Initializers (not overridable ones) and what nodes compute from them alone (a Cast of fp16 weights)."""
    inputs = {value.name for value in graph.input}
    constants = {init.name for init in graph.initializer if init.name not in inputs}
    for node in graph.node:
        if all(not name or name in constants for name in node.input):
            constants.update(node.output)
    return constants


def _set_prop(model: onnx.ModelProto, key: str, value: str) -> None:
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    model.metadata_props.add(key=key, value=value)


def checker_failure(model: onnx.ModelProto) -> str | None:
    """The first line of onnx's full checker's complaint about `model`, or None when it passes."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        return str(exc).splitlines()[0]
    return None


def one_hot_difference(path: Path, batch_sizes: tuple[int, ...] = PARITY_BATCHES) -> float:
    """Max |image(one-hot weights of L) - image(label L)| over every label, same noise."""
    from cgan_runtime import Generator

    generator = Generator(path, provider="cpu")
    worst = 0.0
    for n, labels, noise in _check_inputs(generator.num_classes, generator.nz, batch_sizes):
        weights = np.eye(generator.num_classes, dtype=np.float32)[labels]
        expected = generator.generate_raw(labels, noise=noise, batch_size=n)
        got = generator.generate_mixed_raw(weights, noise=noise, batch_size=n)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def upgrade_onnx(source: Path, out_path: Path | None = None) -> UpgradeReport:
    """Give a version-1 generator file class weights, without its checkpoint; in place by default.

    Nothing is written until the new file passes onnx's full checker, gives
    the same images as `source` for integer labels, and reproduces them with
    one-hot weights (both within ONE_HOT_TOLERANCE, max abs difference).
    ValueError for a file that is no version-1 generator or fails a check.
    """
    from cgan_runtime import Generator

    out_path = source if out_path is None else out_path
    old = Generator(source, provider="cpu")  # FileNotFoundError / ValueError: not a generator
    if old.can_mix:
        raise ValueError(f"{source} takes class weights already (format version {LABEL_WEIGHTS_SINCE})")
    model = add_class_weights(onnx.load(source))
    failure = checker_failure(model)
    if failure is not None:
        raise ValueError(f"the upgraded graph failed onnx's checker: {failure}")
    data = model.SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "upgraded.onnx"
        candidate.write_bytes(data)
        report = UpgradeReport(
            path=str(out_path),
            label_max_abs_diff=_label_difference(old, Generator(candidate, provider="cpu")),
            one_hot_max_abs_diff=one_hot_difference(candidate),
        )
    worst = max(report.label_max_abs_diff, report.one_hot_max_abs_diff)
    if worst > ONE_HOT_TOLERANCE:
        raise ValueError(f"the upgraded file differs from {source} by {worst:.2e} (> {ONE_HOT_TOLERANCE:g}); not written")
    write_output(out_path, data)
    return report


@dataclass
class UpgradeReport:
    path: str
    label_max_abs_diff: float  # integer labels, against the original file
    one_hot_max_abs_diff: float  # one-hot weights against integer labels

    def summary(self) -> str:
        return "\n".join(
            [
                f"wrote {self.path} (format version {FORMAT_VERSION}: takes class weights)",
                f"  max |upgraded - original|, integer labels: {self.label_max_abs_diff:.2e}",
                f"  max |one-hot weights - integer labels|: {self.one_hot_max_abs_diff:.2e}",
            ]
        )


def _label_difference(old, new, batch_sizes: tuple[int, ...] = PARITY_BATCHES) -> float:
    worst = 0.0
    for n, labels, noise in _check_inputs(old.num_classes, old.nz, batch_sizes):
        got = new.generate_raw(labels, noise=noise, batch_size=n)
        worst = max(worst, float(np.abs(got - old.generate_raw(labels, noise=noise, batch_size=n)).max()))
    return worst


def _check_inputs(num_classes: int, nz: int, batch_sizes: tuple[int, ...]):
    """(batch size, every label at least once, fresh noise) for each checked batch size."""
    for n in batch_sizes:
        labels = np.arange(max(n, num_classes)) % num_classes
        noise = np.random.default_rng(n).standard_normal((len(labels), nz), dtype=np.float32)
        yield n, labels, noise
