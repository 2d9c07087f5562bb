"""Torch generator -> ONNX graph that follows the contract, and the graph rewrites behind variants."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections import Counter
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
    Nearest-upsampling convs are rewritten by `transposed_convolutions`.
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
    # Upsample-then-conv generators run as transposed convs at the low resolution (same function).
    model = transposed_convolutions(program.model_proto)
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
    _set_nodes(graph, nodes)
    return model


# Nearest x2 upsampling then a 3x3 conv (padding 1) is a 4x4, stride-2 transposed conv:
# output row 2i reads input rows i - 1 (tap -1) and i (taps 0 and +1); row 2i + 1 reads
# rows i (taps -1 and 0) and i + 1 (tap +1). Transposed-kernel row k is this matrix's row k
# applied to the taps (-1, 0, +1).
_TRANSPOSED_TAPS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=np.float32)


def transposed_convolutions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite nearest x2 Resize -> 3x3 Conv as one ConvTranspose (4x4, stride 2) on the input.

    The same function (up to float rounding), without the upsampled tensor: each output pixel
    takes 2x2 input pixels per channel instead of 3x3 upsampled ones, 4/9 of the multiply-adds.
    Against four per-phase 2x2 convs interleaved by DepthToSpace (the rewrite before it): the
    same multiply-adds without the interleave's copy, 1.45x faster in onnxruntime-web and 1.3x
    less CPU work natively (docs/performance.md).
    """
    model = _copy(model)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    # Readers of each value, graph outputs included: an upsampled map read anywhere else must stay.
    uses = Counter(name for node in graph.node for name in node.input)
    uses.update(out.name for out in graph.output)
    dropped, nodes = set(), []
    for node in graph.node:
        resize = producers.get(node.input[0]) if node.op_type == "Conv" else None
        if resize is None or not _upsample_foldable(resize, node, inits, uses):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])  # [C_out, C_in, 3, 3]
        kernel = np.einsum("ya,xb,oiab->ioyx", _TRANSPOSED_TAPS, _TRANSPOSED_TAPS, weight).astype(weight.dtype)
        name = f"{node.name or node.output[0]}__transposed"
        graph.initializer.append(numpy_helper.from_array(kernel, f"{name}_w"))
        inputs = [resize.input[0], f"{name}_w", *[bias for bias in node.input[2:3] if bias]]
        nodes.append(helper.make_node("ConvTranspose", inputs, list(node.output), name=name,
                                      kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1]))
        dropped.add(resize.output[0])
    nodes = [node for node in nodes if not (node.op_type == "Resize" and node.output[0] in dropped)]
    _set_nodes(graph, nodes)
    return model


def _upsample_foldable(resize: onnx.NodeProto, conv: onnx.NodeProto, inits: dict, uses: Counter) -> bool:
    """A nearest x2 (floor, asymmetric) Resize feeding only a plain 3x3, padding-1 Conv."""
    r = {a.name: helper.get_attribute_value(a) for a in resize.attribute}
    c = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    scales = resize.input[2] if len(resize.input) > 2 else ""
    return (
        resize.op_type == "Resize" and r.get("mode") == b"nearest" and r.get("nearest_mode") == b"floor"
        and r.get("coordinate_transformation_mode") == b"asymmetric" and scales in inits
        and numpy_helper.to_array(inits[scales]).tolist() == [1.0, 1.0, 2.0, 2.0]
        and uses.get(resize.output[0]) == 1 and conv.input[1] in inits
        and list(c.get("kernel_shape", [])) == [3, 3] and list(c.get("pads", [])) == [1, 1, 1, 1]
        and list(c.get("strides", [1, 1])) == [1, 1] and list(c.get("dilations", [1, 1])) == [1, 1]
        and c.get("group", 1) == 1 and c.get("auto_pad", b"NOTSET") == b"NOTSET"
    )


# A 4x4, stride-2, padding-1 transposed conv draws output row 2i from input rows i - 1 and i
# (kernel rows 3 and 1), and row 2i + 1 from input rows i and i + 1 (kernel rows 2 and 0).
_PHASE_KERNEL_ROWS = ([3, 1], [2, 0])


def phase_convolutions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite each 4x4, stride-2, padding-1 ConvTranspose as one 2x2 Conv per output phase,
    interleaved by DepthToSpace: the same function, for int8, because onnxruntime runs Conv in
    integers (QLinearConv) but has no integer ConvTranspose.
    """
    model = _copy(model)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "ConvTranspose" or not _phase_splittable(node, inits):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])  # [C_in, C_out, 4, 4]
        prefix = node.name or node.output[0]
        phases = []
        for a, b in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            name = f"{prefix}__phase{a}{b}"
            kernel = weight[:, :, _PHASE_KERNEL_ROWS[a]][:, :, :, _PHASE_KERNEL_ROWS[b]].transpose(1, 0, 2, 3)
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(kernel), f"{name}_w"))
            inputs = [node.input[0], f"{name}_w", *[bias for bias in node.input[2:3] if bias]]
            # Phase a reads input rows i - 1 + a and i + a: pad one row above (a = 0) or below (a = 1).
            nodes.append(helper.make_node("Conv", inputs, [name], name=name, kernel_shape=[2, 2],
                                          pads=[1 - a, 1 - b, a, b]))
            phases.append(name)
        nodes.append(helper.make_node("Concat", phases, [f"{prefix}__phases"], axis=1))
        # DCR: channel (a * 2 + b) * C_out + c lands on pixel (2i + a, 2j + b) of channel c.
        nodes.append(helper.make_node("DepthToSpace", [f"{prefix}__phases"], list(node.output), blocksize=2,
                                      mode="DCR"))
    _set_nodes(graph, nodes)
    return model


def _phase_splittable(node: onnx.NodeProto, inits: dict) -> bool:
    """A plain 4x4, stride-2, padding-1 ConvTranspose with a constant kernel: what `transposed_convolutions` writes."""
    t = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return (
        node.input[1] in inits and list(t.get("kernel_shape", [])) == [4, 4] and list(t.get("strides", [])) == [2, 2]
        and list(t.get("pads", [])) == [1, 1, 1, 1] and list(t.get("dilations", [1, 1])) == [1, 1]
        and t.get("group", 1) == 1 and t.get("auto_pad", b"NOTSET") == b"NOTSET"
        and not any(t.get("output_padding", [])) and "output_shape" not in t
    )


def int8_weights(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    """int8 by the method that suits the graph: static QDQ for convolutions, dynamic for MLPs."""
    convolutional = any(node.op_type in ("Conv", "ConvTranspose") for node in model.graph.node)
    return int8_static(model, spec) if convolutional else int8_dynamic(model)


def int8_static(model: onnx.ModelProto, spec: ModelSpec) -> onnx.ModelProto:
    """Static QDQ int8: weights per channel, activation ranges calibrated on the generator's own
    inputs (standard-normal noise, every label alike).

    Dynamic quantization leaves Conv in float32; QDQ pairs around it let
    onnxruntime fuse it into its integer QLinearConv kernel. Transposed convs
    become per-phase convs first: onnxruntime has no integer ConvTranspose.
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
        onnx.save(phase_convolutions(model), src)
        with _quiet(""):
            quantize_static(
                src, dst, Inputs(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "Gemm", "MatMul"],
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


def _set_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    """Make `nodes` the graph's nodes and drop the initializers none of them reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out
