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

# The newest opset the installed onnx defines; torch's exporter converts its
# native opset (18) to any opset from contract.MIN_OPSET up to this.
MAX_OPSET = onnx.defs.onnx_opset_version()
CALIBRATION_PER_LABEL = 64  # static int8: noise draws per label that set activation ranges


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


def opset_of(model: onnx.ModelProto) -> int:
    """The default-domain opset a graph actually declares."""
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


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


# ConvTranspose tap used by each (output phase, 3x3 kernel row) of the sub-pixel equivalent of a
# 4x4, stride-2, padding-1 transposed conv: output row 2i + a reads input rows i - 1 + t.
_SUBPIXEL_TAPS = {(0, 0): 3, (0, 1): 1, (1, 1): 2, (1, 2): 0}


def subpixel_convolutions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite each 4x4, stride-2, padding-1 ConvTranspose as Conv(3x3, 4x channels) + DepthToSpace.

    The same function exactly (the 3x3 kernels hold the transposed conv's taps
    and zeros), but onnxruntime's CPU provider has integer kernels for Conv
    and none for ConvTranspose, which QDQ would leave in float32.
    """
    model = _copy(model)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (list(attrs.get("kernel_shape", [])) == [4, 4] and list(attrs.get("strides", [])) == [2, 2]
                 and list(attrs.get("pads", [])) == [1, 1, 1, 1] and attrs.get("group", 1) == 1
                 and not any(attrs.get("output_padding", [])) and not attrs.get("output_shape")
                 and attrs.get("auto_pad", b"NOTSET") == b"NOTSET"
                 and list(attrs.get("dilations", [1, 1])) == [1, 1])
        if node.op_type != "ConvTranspose" or not plain or node.input[1] not in inits:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])  # [C_in, C_out, 4, 4]
        c_in, c_out = weight.shape[:2]
        kernel = np.zeros((c_out, 2, 2, c_in, 3, 3), dtype=weight.dtype)
        for (a, t), kh in _SUBPIXEL_TAPS.items():
            for (b, u), kw in _SUBPIXEL_TAPS.items():
                kernel[:, a, b, :, t, u] = weight[:, :, kh, kw].T
        inputs = [node.input[0], f"{node.input[1]}__subpixel"]
        graph.initializer.append(numpy_helper.from_array(kernel.reshape(4 * c_out, c_in, 3, 3), inputs[1]))
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(inits[node.input[2]])
            inputs.append(f"{node.input[2]}__subpixel")
            graph.initializer.append(numpy_helper.from_array(np.repeat(bias, 4), inputs[2]))
        phases = f"{node.output[0]}__phases"
        nodes.append(helper.make_node("Conv", inputs, [phases], name=f"{node.name}_conv",
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("DepthToSpace", [phases], list(node.output), name=f"{node.name}_d2s",
                                      blocksize=2, mode="CRD"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def int8_weights(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    """int8 by the method that suits the graph: static QDQ for convolutions, dynamic for MLPs."""
    convolutional = any(node.op_type in ("Conv", "ConvTranspose") for node in model.graph.node)
    return int8_static(subpixel_convolutions(model), spec) if convolutional else int8_dynamic(model)


def int8_static(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    """Static QDQ int8: weights per channel, activation ranges calibrated on the generator's own
    inputs (standard-normal noise, every label alike).

    Dynamic quantization leaves Conv and ConvTranspose in float32; QDQ pairs
    around them let onnxruntime run its integer kernels.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Inputs(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            labels = np.repeat(np.arange(spec.num_classes, dtype=np.int64), CALIBRATION_PER_LABEL)
            noise = rng.standard_normal((len(labels), spec.nz), dtype=np.float32)
            self.batches = iter(
                {INPUT_NOISE: noise[i : i + 256], INPUT_LABEL: labels[i : i + 256]} for i in range(0, len(labels), 256)
            )

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, src)
        with _quiet(""):
            quantize_static(
                src, dst, Inputs(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "ConvTranspose", "Gemm", "MatMul"],
                nodes_to_exclude=_class_weight_nodes(model),
            )
        quantized = onnx.load(dst)
    set_metadata(quantized, {p.key: p.value for p in model.metadata_props})
    return quantized


def int8_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 quantization: int8 weights, activations quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        matmuls = gemm_to_matmul(model)
        onnx.save(matmuls, src)
        # Class weights' products with the class tables stay float, so one-hot weights stay exact.
        # The quantizer logs (on the root logger) advice about static pre-processing,
        # which a dynamic quantization does not need.
        with _quiet(""):
            quantize_dynamic(
                src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                nodes_to_exclude=_class_weight_nodes(matmuls),
            )
        quantized = onnx.load(dst)
    # The quantizer rebuilds the model; carry the contract's metadata across.
    set_metadata(quantized, {p.key: p.value for p in model.metadata_props})
    return quantized


def _class_weight_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes reading class weights: left in float, so one-hot weights stay exact in a file
    that already takes them (bench/ derives fp16 and int8 from the exported fp32 file)."""
    return [node.name for node in model.graph.node if INPUT_LABEL_WEIGHTS in node.input]


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out
