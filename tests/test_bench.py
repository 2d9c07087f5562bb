"""The benchmark suite's quick path keeps working (bench/ holds scripts, not timed tests: no speed is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

# bench/ is a folder of scripts at the repo root, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cgan_train.checkpoint import save_checkpoint  # noqa: E402
from cgan_train.models import build_generator  # noqa: E402

from bench import ceiling, models, throughput  # noqa: E402
from bench.timing import Timing  # noqa: E402
from cgan_runtime.contract import ModelSpec  # noqa: E402

BATCHES = (1, 4)


def tiny_checkpoint(path: Path) -> Path:
    """An untrained seed-recipe generator, saved the way the trainer saves one."""
    spec = ModelSpec(arch="mlp", nz=8)
    torch.manual_seed(0)
    generator = build_generator(spec)
    save_checkpoint(
        path, {"spec": spec.to_dict(), "generator": generator.state_dict(), "generator_ema": None, "step": 0}
    )
    return path


@pytest.fixture(scope="module")
def subject(tmp_path_factory: pytest.TempPathFactory) -> models.Subject:
    """The tiny generator in every form the suite times; exported once, for both tests."""
    folder = tmp_path_factory.mktemp("bench")
    return models.prepare(tiny_checkpoint(folder / "tiny.pt"), folder / "onnx")


def test_quick_throughput_reports_a_positive_number_for_every_requested_row(subject):
    timing = Timing(min_time=0.001, repeats=1)
    ceil = ceiling.measure(64, threads=1, timing=timing)

    result = throughput.against(throughput.measure(subject, BATCHES, threads=1, timing=timing), ceil["gflops"])

    paths = {f"onnxruntime {variant}" for variant in models.VARIANTS} | {"torch eager", throughput.CHAIN}
    assert {(row["path"], row["batch"]) for row in result["rows"]} == {(p, b) for p in paths for b in BATCHES}
    for row in result["rows"]:
        assert row["images_per_s"] > 0 and row["gflops"] > 0 and row["percent_of_ceiling"] > 0, row
    assert result["flops_per_image"] == 2 * (18 * 128 + 128 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784)
    table_lines = [line for line in throughput.table(result).splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + len(result["rows"])  # header, rule, one line per row


def test_prepare_reuses_files_exported_from_the_same_checkpoint(subject):
    stamps = {variant: path.stat().st_mtime_ns for variant, path in subject.onnx.items()}
    again = models.prepare(subject.ckpt, subject.onnx["fp32"].parent)
    assert {variant: path.stat().st_mtime_ns for variant, path in again.onnx.items()} == stamps


def test_conv_generator_flops_follow_the_conv_rule():
    from bench import flops

    spec = ModelSpec(arch="conv", nz=8)
    found = flops.layers(build_generator(spec), spec)
    assert [layer.kind for layer in found] == ["Linear", "Conv2d", "Conv2d"]
    # Linear (8 noise + 10 label embedding) -> 64x7x7; 3x3 convs 64 -> 32 on 14x14 outputs, 32 -> 1 on 28x28.
    assert flops.flops_per_image(found) == 2 * (18 * 64 * 49 + 64 * 32 * 9 * 14 * 14 + 32 * 1 * 9 * 28 * 28)
    assert flops.linear_chain(found) is None
