"""cgan-export on the conv network: fp32 parity and static int8 (QDQ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from cgan_export.exporter import PARITY_BATCHES, ExportReport, export_checkpoint  # noqa: E402
from cgan_train.checkpoint import save_checkpoint  # noqa: E402
from cgan_train.models import build_generator  # noqa: E402

from cgan_runtime import Generator  # noqa: E402
from cgan_runtime.contract import KEY_PRECISION, ModelSpec  # noqa: E402


def conv_checkpoint(path: Path, image_shape: tuple[int, int, int] = (1, 28, 28)) -> Path:
    """An untrained conv generator whose BatchNorms have seen a few batches, saved as the trainer does."""
    spec = ModelSpec(arch="conv", nz=8, image_shape=image_shape)
    torch.manual_seed(0)
    generator = build_generator(spec)
    with torch.no_grad():
        for _ in range(3):
            generator(torch.randn(64, spec.nz), torch.arange(64) % spec.num_classes)
    save_checkpoint(path, {"spec": spec.to_dict(), "generator": generator.state_dict(), "generator_ema": None,
                           "step": 3})
    return path


@pytest.fixture(scope="module")
def conv_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExportReport, Path]:
    """(checkpoint, report, fp32 file) of a 1x28x28 conv generator, exported once for the module."""
    folder = tmp_path_factory.mktemp("conv")
    ckpt = conv_checkpoint(folder / "conv.pt")
    return ckpt, export_checkpoint(ckpt, folder / "conv.onnx"), folder / "conv.onnx"


def assert_exported_as(report: ExportReport, path: Path, image_shape: tuple[int, int, int]) -> None:
    assert sorted(report.max_abs_diff) == sorted(PARITY_BATCHES)
    assert max(report.max_abs_diff.values()) <= 1e-5
    gen = Generator(path, provider="cpu")
    assert gen.spec.arch == "conv" and gen.spec.image_shape == image_shape
    ops = {node.op_type for node in onnx.load(path).graph.node}
    # Per-label BatchNorm tables folded into constants; upsample-then-conv run as transposed convs.
    assert "BatchNormalization" not in ops and "Resize" not in ops and "ConvTranspose" in ops


def test_conv_export_matches_torch_and_loads_in_the_runtime(conv_export):
    _, report, path = conv_export
    assert_exported_as(report, path, (1, 28, 28))


def test_colour_conv_export_matches_torch_and_loads_in_the_runtime(tmp_path):
    ckpt = conv_checkpoint(tmp_path / "conv.pt", (3, 32, 32))
    assert_exported_as(export_checkpoint(ckpt, tmp_path / "g.onnx"), tmp_path / "g.onnx", (3, 32, 32))


def test_conv_int8_is_static_qdq_on_integer_convolutions(conv_export, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "cgan_export.exporter._label_accuracies", lambda models, source: {"fp32": 99.0, "int8": 98.9}
    )
    conv_ckpt, fp32, fp32_path = conv_export
    report = export_checkpoint(conv_ckpt, tmp_path / "g.int8.onnx", precision="int8", data_dir=tmp_path)
    assert report.label_accuracy == {"fp32": 99.0, "int8": 98.9}
    graph = onnx.load(tmp_path / "g.int8.onnx").graph
    ops = [node.op_type for node in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    int8_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 2  # both convolutions' kernels are stored as int8
    # What onnxruntime runs: its integer conv kernel, and no float (transposed) conv left.
    ran = {node.op_type for node in onnxruntime_optimized(tmp_path / "g.int8.onnx", tmp_path).graph.node}
    assert "QLinearConv" in ran and not {"Conv", "ConvTranspose"} & ran
    assert report.size_bytes < fp32.size_bytes
    smaller = Generator(tmp_path / "g.int8.onnx", provider="cpu")
    assert smaller.metadata[KEY_PRECISION] == "int8"
    labels = np.arange(200) % 10
    reference = Generator(fp32_path, provider="cpu").generate_raw(labels, seed=3)
    assert np.abs(smaller.generate_raw(labels, seed=3) - reference).mean() < 0.05


def onnxruntime_optimized(path: Path, tmp_path: Path) -> onnx.ModelProto:
    """The graph onnxruntime's CPU provider runs for `path`, after its fusions."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(tmp_path / "optimized.onnx")


def upsample_then_conv(pads: list[int]) -> onnx.ModelProto:
    """x [1, 3, 5, 5] -> nearest x2 Resize -> 3x3 Conv (3 -> 4, with bias) -> y: the block the exporter rewrites."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
             numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")]
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest", nearest_mode="floor",
                              coordinate_transformation_mode="asymmetric"),
             helper.make_node("Conv", ["up", "w", "b"], ["y"], kernel_shape=[3, 3], pads=pads)]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]


def test_upsample_then_conv_becomes_one_transposed_conv_computing_the_same_image():
    from cgan_export.graph import transposed_convolutions

    model = upsample_then_conv(pads=[1, 1, 1, 1])
    rewritten = transposed_convolutions(model)
    x = np.random.default_rng(1).standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert [node.op_type for node in rewritten.graph.node] == ["ConvTranspose"]
    np.testing.assert_allclose(run(rewritten, x), run(model, x), atol=1e-5)


def test_a_conv_the_rewrite_does_not_match_is_left_as_it_is():
    from cgan_export.graph import transposed_convolutions

    unpadded = transposed_convolutions(upsample_then_conv(pads=[0, 0, 0, 0]))
    assert [node.op_type for node in unpadded.graph.node] == ["Resize", "Conv"]


def test_for_int8_a_transposed_conv_becomes_per_phase_convs_computing_the_same_image():
    from cgan_export.graph import phase_convolutions, transposed_convolutions

    transposed = transposed_convolutions(upsample_then_conv(pads=[1, 1, 1, 1]))
    phases = phase_convolutions(transposed)
    x = np.random.default_rng(1).standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert [node.op_type for node in phases.graph.node] == ["Conv"] * 4 + ["Concat", "DepthToSpace"]
    np.testing.assert_allclose(run(phases, x), run(transposed, x), atol=1e-5)
