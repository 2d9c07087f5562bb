"""Class weights in exported files: every variant the exporter writes, and `cgan-export --upgrade`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from cgan_export import exporter  # noqa: E402
from cgan_export.cli import main as export_main  # noqa: E402
from cgan_export.graph import export_onnx, fp16_weights, int8_weights, set_metadata  # noqa: E402
from cgan_export.class_weights_graph import add_class_weights, one_hot_difference, upgrade_onnx  # noqa: E402
from cgan_runtime import Generator  # noqa: E402
from cgan_runtime.contract import (  # noqa: E402
    INPUT_LABEL_WEIGHTS, KEY_FORMAT_VERSION, KEY_PRECISION, ModelSpec, Provenance, to_metadata,
)
from cgan_runtime.commands.errors import EXIT_RUNTIME, EXIT_USAGE  # noqa: E402
from cgan_train.checkpoint import inference_generator, load_checkpoint  # noqa: E402

from fixtures.make_tiny_generator import TINY_SPEC, build  # noqa: E402
from support import BAD_MODELS, assert_one_line_error  # noqa: E402

VARIANTS = ("fp32", "fp16", "int8")


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint through `export_checkpoint` as each variant.

    The torch export, the slow part, is the same for every variant, so it runs
    once; the label-accuracy check needs the classifier and is test_export's job.
    """
    folder = tmp_path_factory.mktemp("mixing-export")
    graph = export_onnx(*_inference(tiny_checkpoint), exporter.DEFAULT_OPSET)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exporter, "export_onnx", lambda *args: (_copy(graph[0]), graph[1]))
        patch.setattr(exporter, "_label_accuracies", lambda models, data_dir: dict.fromkeys(models, 100.0))
        for variant in VARIANTS:
            exporter.export_checkpoint(tiny_checkpoint, folder / f"g.{variant}.onnx", precision=variant, data_dir=folder)
    return folder, graph[0]


def _inference(checkpoint):
    generator, spec = inference_generator(load_checkpoint(checkpoint))
    return generator, spec


def _copy(model):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_hot_weights_reproduce_every_label_in_every_exported_variant(exported, variant):
    folder, _ = exported
    generator = Generator(folder / f"g.{variant}.onnx", provider="cpu")
    assert generator.can_mix and generator.metadata[KEY_PRECISION] == variant
    assert generator.metadata[KEY_FORMAT_VERSION] == "2"
    labels = np.arange(5 * generator.num_classes) % generator.num_classes
    noise = np.random.default_rng(0).standard_normal((len(labels), generator.nz), dtype=np.float32)
    by_label = generator.generate_raw(labels, noise=noise)
    by_weights = generator.generate_mixed_raw(np.eye(generator.num_classes, dtype=np.float32)[labels], noise=noise)
    assert np.abs(by_weights - by_label).max() <= 1e-6
    # A real mix is neither end: the weights reach the network.
    mixed = generator.generate_mixed_raw({3: 0.5, 8: 0.5}, noise=noise[:1])
    assert np.abs(mixed - by_label[3]).max() > 1e-2 and np.abs(mixed - by_label[8]).max() > 1e-2


def test_the_int8_file_keeps_its_class_tables_in_float(exported):
    folder, _ = exported
    model = onnx.load(folder / "g.int8.onnx")
    mixing = [node for node in model.graph.node if node.op_type == "MatMul" and "label_weights" in node.input]
    tables = {init.name: init.data_type for init in model.graph.initializer}
    assert mixing and all(tables[node.input[1]] == onnx.TensorProto.FLOAT for node in mixing)


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_variant_rewrites_of_a_file_that_takes_class_weights_keep_one_hot_exact(exported, tiny_checkpoint, tmp_path, variant):
    """bench/ derives fp16 and int8 from the exported fp32 file, which already takes class weights."""
    path = tmp_path / "variant.onnx"
    fp32 = onnx.load(exported[0] / "g.fp32.onnx")
    onnx.save(fp16_weights(fp32) if variant == "fp16" else int8_weights(fp32, _inference(tiny_checkpoint)[1]), path)
    assert Generator(path, provider="cpu").can_mix
    assert one_hot_difference(path) <= 1e-6


def test_fp16_keeps_the_class_weights_input_float32_however_many_classes():
    spec = ModelSpec(arch="tiny-fixture", nz=8, num_classes=20, class_names=[str(c) for c in range(20)])
    model = fp16_weights(add_class_weights(build(spec)))
    weights = next(init for init in model.graph.initializer if init.name == INPUT_LABEL_WEIGHTS)
    assert weights.data_type == onnx.TensorProto.FLOAT
    assert INPUT_LABEL_WEIGHTS in {value.name for value in model.graph.input}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_conv_generator_mixes_through_every_conditional_batchnorm(tmp_path, monkeypatch, precision):
    """The label enters each cBN block through two tables (scale, shift); every lookup takes the weights."""
    from test_export_conv import conv_checkpoint

    monkeypatch.setattr(exporter, "_label_accuracies", lambda models, data_dir: dict.fromkeys(models, 100.0))
    path = tmp_path / "conv.onnx"
    exporter.export_checkpoint(conv_checkpoint(tmp_path / "conv.pt"), path, precision=precision, data_dir=tmp_path)
    mixing = [n for n in onnx.load(path).graph.node if n.op_type == "MatMul" and INPUT_LABEL_WEIGHTS in n.input]
    assert len(mixing) >= 4  # two blocks at 28x28, two tables each
    assert one_hot_difference(path) <= 1e-6


@pytest.fixture
def version_1_file(exported, tiny_checkpoint, tmp_path):
    """What the exporter wrote before class weights: the same graph at format version 1."""
    _, graph = exported
    model = _copy(graph)
    _, spec = _inference(tiny_checkpoint)
    set_metadata(model, to_metadata(spec, Provenance()) | {KEY_FORMAT_VERSION: "1"})
    path = tmp_path / "old.onnx"
    onnx.save(model, path)
    return path


def test_upgrade_gives_a_version_1_file_class_weights_and_keeps_its_images(run_cli, exported, version_1_file, tmp_path):
    out = tmp_path / "new.onnx"
    result = run_cli(export_main, "cgan-export", "--upgrade", version_1_file, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().startswith(f"wrote {out} (format version 2: takes class weights)")
    old, new = Generator(version_1_file, provider="cpu"), Generator(out, provider="cpu")
    assert not old.can_mix and new.can_mix
    labels = np.arange(300) % 10
    assert np.array_equal(new.generate_raw(labels, seed=1), old.generate_raw(labels, seed=1))
    exported_fp32 = Generator(exported[0] / "g.fp32.onnx", provider="cpu")
    weights = {2: 0.25, 6: 0.75}
    assert np.array_equal(new.generate_mixed_raw(weights, seed=4), exported_fp32.generate_mixed_raw(weights, seed=4))


def test_upgrade_without_output_replaces_the_file(version_1_file):
    report = upgrade_onnx(version_1_file)
    assert report.path == str(version_1_file) and report.label_max_abs_diff == 0
    assert Generator(version_1_file, provider="cpu").can_mix


@pytest.mark.parametrize(
    "name, fragment",
    [("mixing", "takes class weights already"), ("text", "not a loadable ONNX"), ("nan", "holds NaN or infinity")],
)
def test_upgrade_refuses_what_it_cannot_upgrade_with_one_line(run_cli, exported, tmp_path, name, fragment):
    """A NaN-producing file was once upgraded, reporting a difference of 0.00e+00."""
    source = tmp_path / f"{name}.onnx"
    if name == "mixing":
        source.write_bytes((exported[0] / "g.fp32.onnx").read_bytes())
    elif name == "nan":
        source.write_bytes((BAD_MODELS / "nan_weights.onnx").read_bytes())
    else:
        source.write_text("not a model")
    before = source.read_bytes()
    result = run_cli(export_main, "cgan-export", "--upgrade", source, "-o", tmp_path / "out.onnx")
    assert_one_line_error(result, EXIT_RUNTIME, fragment)
    assert source.read_bytes() == before and not (tmp_path / "out.onnx").exists()


def test_upgrade_takes_no_export_options(run_cli, version_1_file):
    result = run_cli(export_main, "cgan-export", "--upgrade", version_1_file, "--precision", "fp16")
    assert result.exit_code == EXIT_USAGE and "--upgrade keeps the file's graph and precision" in result.stderr
    assert not Generator(version_1_file, provider="cpu").can_mix


def test_surgery_refuses_a_graph_that_uses_the_label_other_than_as_a_lookup():
    model = build(TINY_SPEC)
    model.graph.node.insert(0, onnx.helper.make_node("Cast", ["label"], ["label_float"], to=onnx.TensorProto.FLOAT))
    model.graph.node.insert(1, onnx.helper.make_node("Neg", ["label_float"], ["unused"], name="negate"))
    with pytest.raises(ValueError, match=r"the label reaches a Neg node \('negate'\), not only class lookups"):
        add_class_weights(model)


def test_surgery_refuses_a_model_that_takes_class_weights_already():
    with pytest.raises(ValueError, match="already has a 'label_weights' input"):
        add_class_weights(add_class_weights(build(TINY_SPEC)))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_upgrade_into_a_full_disk_names_the_file(run_cli, version_1_file):
    result = run_cli(export_main, "cgan-export", "--upgrade", version_1_file, "-o", "/dev/full")
    assert result.exit_code == EXIT_RUNTIME
    assert result.stderr.strip().splitlines() == ["cgan-export: error: cannot write /dev/full: No space left on device"]
