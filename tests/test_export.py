"""cgan-export: checkpoint -> verified ONNX that follows the contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from cgan_export.cli import main as export_main  # noqa: E402
from cgan_export.exporter import PARITY_BATCHES, export_checkpoint  # noqa: E402
from cgan_export.graph import opset_of  # noqa: E402
from cgan_runtime import Generator  # noqa: E402
from cgan_runtime.contract import (  # noqa: E402
    KEY_PACKAGE_VERSION, KEY_PRECISION, KEY_SOURCE_SHA256, KEY_SPEC, KEY_TRAINING_STEPS,
)
from cgan_runtime.commands.errors import EXIT_RUNTIME, EXIT_USAGE  # noqa: E402
from cgan_train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402

from support import MNIST_DIR, assert_one_line_error  # noqa: E402


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "gen.onnx"
    return export_checkpoint(tiny_checkpoint, out), out


def test_export_writes_a_file_the_runtime_loads_with_the_checkpoints_spec(exported, tiny_checkpoint):
    report, path = exported
    ckpt = load_checkpoint(tiny_checkpoint)
    gen = Generator(path, provider="cpu")
    assert gen.spec.to_dict() == ckpt["spec"]
    assert report.size_bytes == path.stat().st_size


def test_export_metadata_records_provenance(exported, tiny_checkpoint):
    _, path = exported
    meta = Generator(path, provider="cpu").metadata
    assert meta[KEY_TRAINING_STEPS] == str(load_checkpoint(tiny_checkpoint)["step"])
    assert meta[KEY_SOURCE_SHA256] == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert meta[KEY_PRECISION] == "fp32" and meta[KEY_PACKAGE_VERSION]
    assert json.loads(meta[KEY_SPEC])["arch"] == "mlp"


def test_export_matches_torch_within_1e5_at_every_checked_batch_size(exported):
    report, _ = exported
    assert sorted(report.max_abs_diff) == sorted(PARITY_BATCHES)
    assert max(report.max_abs_diff.values()) <= 1e-5


def test_export_folds_batchnorm_into_the_matmuls(exported):
    report, path = exported
    nodes = onnx.load(path).graph.node
    assert "BatchNormalization" not in {node.op_type for node in nodes}
    assert report.nodes_after == len(nodes) < report.nodes_before


def test_exported_batch_dimension_is_dynamic(exported):
    _, path = exported
    gen = Generator(path, provider="cpu")
    assert gen.generate([3], seed=1).shape == (1, 28, 28)
    big = gen.generate(np.arange(10_000) % 10, seed=1, batch_size=10_000)
    assert big.shape == (10_000, 28, 28)


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_export_variants_are_smaller_run_and_report_accuracy_beside_fp32(exported, tiny_checkpoint, tmp_path, variant,
                                                                        mnist_classifier, monkeypatch):
    # The guard measures with the session's small MNIST classifier: the real one takes minutes to train.
    monkeypatch.setattr("cgan_train.evaluation.data_classifier", lambda source, **options: mnist_classifier)
    fp32_report, fp32_path = exported
    report = export_checkpoint(tiny_checkpoint, tmp_path / f"g.{variant}.onnx", precision=variant, data_dir=MNIST_DIR)
    assert report.size_bytes < 0.6 * fp32_report.size_bytes
    assert set(report.label_accuracy) == {"fp32", variant}
    assert report.label_accuracy["fp32"] - report.label_accuracy[variant] <= 0.5
    smaller = Generator(tmp_path / f"g.{variant}.onnx", provider="cpu")
    assert smaller.metadata[KEY_PRECISION] == variant
    # Not bit-exact, but the same pictures: a small mean error per pixel on the [-1, 1] scale.
    labels = np.arange(500) % 10
    reference = Generator(fp32_path, provider="cpu").generate_raw(labels, seed=3)
    assert np.abs(smaller.generate_raw(labels, seed=3) - reference).mean() < 0.05


def test_export_refuses_a_variant_that_loses_accuracy(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "cgan_export.exporter._label_accuracies", lambda models, source: {"fp32": 95.0, "int8": 94.0}
    )
    with pytest.raises(RuntimeError, match="int8 loses 1.00 points"):
        export_checkpoint(tiny_checkpoint, tmp_path / "g.onnx", precision="int8", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_export_cli_refuses_a_missing_checkpoint(run_cli, tmp_path):
    result = run_cli(export_main, "cgan-export", "--ckpt", tmp_path / "best.pt")
    assert_one_line_error(result, EXIT_RUNTIME, "checkpoint not found", folder=tmp_path)


def test_export_cli_refuses_a_file_that_is_not_a_checkpoint(run_cli, tmp_path):
    (tmp_path / "best.pt").write_bytes(b"\x00not a checkpoint" * 10)
    result = run_cli(export_main, "cgan-export", "--ckpt", tmp_path / "best.pt")
    assert_one_line_error(result, EXIT_RUNTIME, "not a readable cgan-edge checkpoint", folder=tmp_path, before=["best.pt"])


def test_export_cli_refuses_a_checkpoint_of_another_format_version(run_cli, tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    save_checkpoint(tmp_path / "best.pt", {k: v for k, v in ckpt.items() if k not in ("format", "format_version")})
    old = torch.load(tmp_path / "best.pt", weights_only=True)
    torch.save({**old, "format_version": 0}, tmp_path / "best.pt")
    result = run_cli(export_main, "cgan-export", "--ckpt", tmp_path / "best.pt")
    assert_one_line_error(result, EXIT_RUNTIME, "format version 0", folder=tmp_path, before=["best.pt"])


def test_export_cli_refuses_an_unwritable_output_before_exporting(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli(export_main, "cgan-export", "--ckpt", tiny_checkpoint, "-o", tmp_path / "missing" / "g.onnx")
    assert_one_line_error(result, EXIT_RUNTIME, "no directory", folder=tmp_path)
    result = run_cli(export_main, "cgan-export", "--ckpt", tiny_checkpoint, "-o", tmp_path)
    assert_one_line_error(result, EXIT_RUNTIME, "is a directory", folder=tmp_path)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--opset", "16"], "opset 16 is not supported"),
        (["--opset", "999"], "opset 999 is not supported"),
        (["--precision", "fp8"], "unknown precision 'fp8' (choose from fp32, fp16, int8)"),
        (["--quantize", "int8"], "No such option"),
    ],
)
def test_export_cli_bad_options_are_usage_errors(run_cli, tiny_checkpoint, tmp_path, args, fragment):
    result = run_cli(export_main, "cgan-export", "--ckpt", tiny_checkpoint, "-o", tmp_path / "g.onnx", *args)
    assert_one_line_error(result, EXIT_USAGE, fragment, folder=tmp_path)


def test_export_cli_prints_the_verification_summary(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli(export_main, "cgan-export", "--ckpt", tiny_checkpoint, "-o", tmp_path / "g.onnx")
    assert result.exit_code == 0, result.stderr
    out = result.stdout.decode()
    assert "wrote" in out and "max |onnxruntime - torch|" in out and "nodes" in out and "MB" in out
    assert (tmp_path / "g.onnx").is_file()


def test_export_cli_refuses_a_checkpoint_whose_weights_miss_keys_in_one_line(run_cli, tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    weights = dict(ckpt["generator_ema"] or ckpt["generator"])
    weights.pop(next(iter(weights)))
    save_checkpoint(tmp_path / "best.pt", {**{k: v for k, v in ckpt.items() if k not in ("format", "format_version")},
                                           "generator": weights, "generator_ema": None})
    result = run_cli(export_main, "cgan-export", "--ckpt", tmp_path / "best.pt")
    assert_one_line_error(result, EXIT_RUNTIME, "does not match its spec", folder=tmp_path, before=["best.pt"])


def test_export_library_raises_ordinary_exceptions(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown precision"):
        export_checkpoint(tiny_checkpoint, tmp_path / "g.onnx", precision="fp8")
    with pytest.raises(ValueError, match="opset 999 is not supported"):
        export_checkpoint(tiny_checkpoint, tmp_path / "g.onnx", opset=999)
    assert list(tmp_path.iterdir()) == []


def test_export_reports_the_opset_the_file_declares(tiny_checkpoint, tmp_path):
    report = export_checkpoint(tiny_checkpoint, tmp_path / "g.onnx", opset=17)
    assert report.opset == opset_of(onnx.load(tmp_path / "g.onnx")) == 17


def test_export_cli_int8_is_one_precision_choice(run_cli, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "cgan_export.exporter._label_accuracies", lambda models, source: {"fp32": 99.0, "int8": 99.1}
    )
    result = run_cli(export_main, "cgan-export", "--ckpt", tiny_checkpoint, "-o", tmp_path / "g.onnx",
                     "--precision", "int8", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "int8" in result.stdout.decode() and "label accuracy: fp32 99.00%, int8 99.10%" in result.stdout.decode()
    assert Generator(tmp_path / "g.onnx", provider="cpu").metadata[KEY_PRECISION] == "int8"


def test_export_scores_fp16_on_the_data_the_checkpoint_was_trained_on(run_cli, colour_folder, tmp_path, monkeypatch):
    """A colour folder model is checked against its own folder (read from the run), not MNIST."""
    from cgan_train.classifier import Classifier
    from cgan_train.cli import train_main

    folder = colour_folder(tmp_path / "pets", size=16)
    run = tmp_path / "run"
    trained = run_cli(train_main, "cgan-train", "--data", folder, "--recipe", "mlp", "--max-steps", "2",
                      "--batch-size", "8", "--no-eval", "--out", run, "--device", "cpu")
    assert trained.exit_code == 0, trained.stderr
    sources = []

    def untrained_classifier(source, **kwargs):  # what the guard would train, without the training
        sources.append(source)
        return Classifier(3, (3, 16, 16)).eval()

    monkeypatch.setattr("cgan_train.evaluation.data_classifier", untrained_classifier)
    report = export_checkpoint(run / "last.pt", tmp_path / "g.fp16.onnx", precision="fp16")
    assert [(Path(s.data), s.image_size) for s in sources] == [(folder.resolve(), None)]
    assert set(report.label_accuracy) == {"fp32", "fp16"}
    assert Generator(tmp_path / "g.fp16.onnx", provider="cpu").image_shape == (3, 16, 16)


def test_export_cli_refuses_a_checkpoint_with_non_finite_weights_in_one_line(run_cli, tiny_checkpoint, tmp_path):
    """NaN weights were once exported ("max |onnxruntime - torch|: N=1: nan"), exit 0."""
    ckpt = load_checkpoint(tiny_checkpoint)
    weights = {name: value.clone() for name, value in (ckpt["generator_ema"] or ckpt["generator"]).items()}
    weights["net.0.weight"][0, 0] = float("inf")
    save_checkpoint(tmp_path / "best.pt", {**{k: v for k, v in ckpt.items() if k not in ("format", "format_version")},
                                           "generator": weights, "generator_ema": None})
    result = run_cli(export_main, "cgan-export", "--ckpt", tmp_path / "best.pt")
    assert_one_line_error(result, EXIT_RUNTIME, "holds NaN or infinity (in net.0.weight)", folder=tmp_path, before=["best.pt"])
