"""Torch generator -> ONNX graph that follows the contract, and the graph rewrites behind variants."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from cgan_runtime.contract import INPUT_LABEL, INPUT_LABEL_WEIGHTS, INPUT_NOISE, OUTPUT_IMAGE, ModelSpec


@contextlib.contextmanager
def _quiet(logger: str):
    """Silence a library that narrates its work on stdout, stderr, warnings and a logger,
    restoring all four afterwards so an embedding app's logging is left as it was."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def export_onnx(generator: torch.nn.Module, spec: ModelSpec, opset: int) -> tuple[onnx.ModelProto, int]:
    """Export `generator` (already in eval mode) with a symbolic batch dimension.

    Returns the optimized model and the node count before optimization.
    We pin the torch.export-based exporter (dynamo=True): it is torch's
    supported path (the TorchScript exporter is deprecated and narrated as
    such), it keeps the image dimensions static, and its optimizer folds
    BatchNorm into the Gemms and folds constants.
    """
    batch = torch.export.Dim("N", min=1)
    # Example batch of 2: a batch of 1 would let the exporter specialise N away.
    example = (torch.randn(2, spec.nz), torch.arange(2, dtype=torch.long) % spec.num_classes)
    with _quiet("torch.onnx"):
        program = torch.onnx.export(
            generator,
            example,
            input_names=[INPUT_NOISE, INPUT_LABEL],
            output_names=[OUTPUT_IMAGE],
            dynamic_shapes=({0: batch}, {0: batch}),
            opset_version=opset,
            dynamo=True,
            optimize=False,
            verbose=False,
        )
        nodes_before = len(program.model_proto.graph.node)
        program.optimize()
    model = program.model_proto
    # torch labels every value with its source name; runtimes need none of it.
    for value in [*model.graph.input, *model.graph.output]:
        del value.metadata_props[:]
    return model, nodes_before


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    helper.set_model_props(model, metadata)


def fp16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store float32 weights as float16 and cast them back at load.

    Halves the file. Compute stays float32: onnxruntime's CPU provider has no
    float16 Gemm on x86, and it folds the Casts once when the session starts,
    so generation runs at fp32 speed.
    """
    model = _copy(model)
    graph = model.graph
    inputs = {value.name for value in graph.input}  # overridable initializers (label_weights) keep their type
    casts = []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or np.prod(init.dims) < 16 or init.name in inputs:
            continue  # scalars and shape constants stay as they are
        array = numpy_helper.to_array(init)
        half_name = f"{init.name}__fp16"
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(array.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def gemm_to_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite Gemm(x, W, b) as MatMul(x, W') + b.

    onnxruntime's dynamic int8 quantizer handles MatMul but not Gemm, which is
    what the exporter emits for nn.Linear.
    """
    model = _copy(model)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        if node.op_type != "Gemm" or not plain or node.input[1] not in inits:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T
        w_name = f"{node.input[1]}__matmul"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), w_name))
        if len(node.input) > 2 and node.input[2]:
            mid = f"{node.output[0]}__matmul"
            nodes.append(helper.make_node("MatMul", [node.input[0], w_name], [mid], name=f"{node.name}_matmul"))
            nodes.append(helper.make_node("Add", [mid, node.input[2]], list(node.output), name=f"{node.name}_add"))
        else:
            nodes.append(helper.make_node("MatMul", [node.input[0], w_name], list(node.output), name=node.name))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 quantization: int8 weights, activations quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        matmuls = gemm_to_matmul(model)
        onnx.save(matmuls, src)
        # Class weights' products with the class tables stay float, so one-hot weights stay exact.
        mixing = [node.name for node in matmuls.graph.node if INPUT_LABEL_WEIGHTS in node.input]
        # The quantizer logs (on the root logger) advice about static pre-processing,
        # which a dynamic quantization does not need.
        with _quiet(""):
            quantize_dynamic(
                src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_exclude=mixing
            )
        quantized = onnx.load(dst)
    # The quantizer rebuilds the model; carry the contract's metadata across.
    set_metadata(quantized, {p.key: p.value for p in model.metadata_props})
    return quantized


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out
