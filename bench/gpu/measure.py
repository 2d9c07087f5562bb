"""Issue 15's measurements on a lent GPU, in one run: training seconds per epoch, and the
runtime on CUDAExecutionProvider (parity with CPU, images/s, cold start, fallback messages).

Run by bench/gpu/device.sh on the device (see bench/gpu/README.md); it also runs here, on a
CPU-only machine, where the GPU rows say "no GPU" and the rest checks the script works:

    python bench/gpu/measure.py --data-dir ../shared/data --json gpu.json [--quick]

Prints one markdown table per section, for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the bench package (Timing, markdown tables)

from bench.report import markdown_table, number  # noqa: E402
from bench.timing import Timing  # noqa: E402

RECIPES = ("mlp", "edge")
BATCHES = (1, 256, 4096)
PARITY_TOLERANCE = 1e-4
# cgan-gen as a user runs it with onnxruntime-gpu whose CUDA libraries cannot be found:
# the preload that finds the pip-installed ones is switched off, nothing else changes.
CGAN_GEN = "from cgan_runtime.commands.launch import gen; gen()"  # the console script's own entry
NO_PRELOAD = f"import onnxruntime; onnxruntime.preload_dlls = lambda *a, **k: None; {CGAN_GEN}"


def training(data_dir: Path, epochs: int, device: str) -> dict[str, Any]:
    """Seconds per epoch of each recipe, data on the device, no scoring (the loop alone)."""
    import contextlib
    import io

    from cgan_train.config import TrainConfig
    from cgan_train.trainer import train

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in RECIPES:
            cfg = TrainConfig.for_recipe(recipe, epochs=epochs, evaluate=False)
            out = Path(tmp) / recipe
            with contextlib.redirect_stdout(io.StringIO()):
                train(cfg, data_dir, out, device=device)
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            rows.append({"recipe": recipe, "device": device, "seconds_per_epoch": [r["seconds"] for r in records],
                         "images_per_s": [r["images_per_s"] for r in records]})
    return {"rows": rows}


def to_quality(data_dir: Path, epochs: int, device: str) -> dict[str, Any]:
    """The default recipe with per-epoch scoring: seconds of training loop until the quick score
    meets the shipped model's targets (accuracy >= 0.99 and FID <= 2x the classifier floor)."""
    import contextlib
    import io

    from bench.training import parse_target, time_to_targets
    from cgan_train.config import DEFAULT_RECIPE, TrainConfig
    from cgan_train.trainer import train

    targets = [parse_target("accuracy>=0.99"), parse_target("fid<=7.0")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quality"
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            train(TrainConfig.for_recipe(DEFAULT_RECIPE, epochs=epochs), data_dir, out, device=device)
        wall = time.perf_counter() - start
        reached = time_to_targets(out, targets)
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"recipe": DEFAULT_RECIPE, "epochs": epochs, "wall_seconds": wall, "targets": [str(t) for t in targets],
            "reached": reached, "last": records[-1]}


def runtime(models: list[Path], batches: tuple[int, ...], timing: Timing) -> dict[str, Any]:
    """Per model: CUDA vs CPU images (max abs diff), images/s per batch on each provider."""
    from cgan_runtime import Generator

    rows = []
    for model in models:
        cpu = Generator(model, provider="cpu")
        labels = np.arange(cpu.num_classes).repeat(100)
        row: dict[str, Any] = {"model": str(model), "providers": {}}
        try:
            cuda = Generator(model, provider="cuda")
        except (RuntimeError, ValueError) as exc:
            row["cuda_error"] = str(exc)
            cuda = None
        if cuda is not None:
            row["max_abs_diff"] = float(np.abs(cuda.generate_raw(labels, seed=0) - cpu.generate_raw(labels, seed=0)).max())
        for name, gen in (("cpu", cpu), ("cuda", cuda)):
            if gen is None:
                continue
            rates = {}
            for batch in batches:
                noise = np.random.default_rng(0).standard_normal((batch, gen.nz), dtype=np.float32)
                batch_labels = np.arange(batch) % gen.num_classes
                seconds = timing.seconds_per_call(
                    lambda: gen.generate_raw(batch_labels, noise=noise, batch_size=batch))
                rates[batch] = batch / seconds
            row["providers"][name] = rates
        rows.append(row)
    return {"rows": rows}


def cold_start(model: Path | None, runs: int) -> dict[str, Any]:
    """Median wall seconds of `cgan-gen --provider cuda` (and cpu), process start to PNG written;
    and what a user reads when onnxruntime-gpu cannot find its CUDA libraries."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = ["--label", "5", "--seed", "0", "-o", str(Path(tmp) / "five.png")]
        if model is not None:
            base += ["--model", str(model)]
        for provider in ("cuda", "cpu"):
            argv = [sys.executable, "-c", CGAN_GEN, *base, "--provider", provider]
            times, last = [], None
            for _ in range(runs + 1):  # the first run fills the page cache, dropped
                start = time.perf_counter()
                last = subprocess.run(argv, capture_output=True, text=True)
                times.append(time.perf_counter() - start)
            result[provider] = {"median_s": statistics.median(times[1:]), "exit": last.returncode,
                                "stderr": last.stderr.strip()}
        for provider in ("auto", "cuda"):
            argv = [sys.executable, "-c", NO_PRELOAD, *base, "--provider", provider]
            done = subprocess.run(argv, capture_output=True, text=True)
            result[f"no_libraries_{provider}"] = {"exit": done.returncode, "stderr": done.stderr.strip()}
    return result


def tables(results: dict[str, Any], batches: tuple[int, ...]) -> list[str]:
    out = []
    if "training" in results:
        rows = [[r["recipe"], r["device"], ", ".join(f"{s:.2f}" for s in r["seconds_per_epoch"]),
                 number(r["images_per_s"][-1])] for r in results["training"]["rows"]]
        out.append(markdown_table(["recipe", "device", "seconds per epoch (1st includes warm-up)", "images/s"], rows))
    if "quality" in results:
        q = results["quality"]
        out.append(f"Default recipe to {', '.join(q['targets'])}: {json.dumps(q['reached'])} "
                   f"({q['epochs']} epochs, {q['wall_seconds']:.0f} s wall with scoring)")
    for row in results["runtime"]["rows"]:
        lines = [[name, *(number(rates[b]) for b in batches)] for name, rates in row["providers"].items()]
        diff = row.get("max_abs_diff")
        note = f"max |cuda - cpu| = {diff:.2e}" if diff is not None else f"no CUDA: {row.get('cuda_error')}"
        out.append(f"**{row['model']}** ({note})\n\n" + markdown_table(
            ["provider", *(f"images/s at {b}" for b in batches)], lines))
    cold = results["cold_start"]
    out.append(markdown_table(["cgan-gen", "median s", "exit", "stderr"],
                              [[k, f"{v['median_s']:.3f}" if "median_s" in v else "", v["exit"], v["stderr"]]
                               for k, v in cold.items()]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model", type=Path, action="append", default=[], help="more .onnx files (the shipped one always)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per recipe for seconds per epoch")
    parser.add_argument("--quality-epochs", type=int, default=20, help="epochs of the default recipe, scored")
    parser.add_argument("--quick", action="store_true", help="tiny timings, no training: checks the script works")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from cgan_runtime.default_model import default_model_path

    device = "cuda" if torch.cuda.is_available() else "cpu"
    timing = Timing(min_time=0.01, repeats=1) if args.quick else Timing(min_time=0.3, repeats=5)
    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}
    if not args.quick:
        results["training"] = training(args.data_dir, args.epochs, device)
        results["quality"] = to_quality(args.data_dir, args.quality_epochs, device)
    models = [default_model_path(), *args.model]
    batches = (1, 16) if args.quick else BATCHES
    results["runtime"] = runtime(models, batches, timing)
    results["cold_start"] = cold_start(None, 1 if args.quick else 5)
    print(f"# GPU measurements on {results['device']}\n")
    print("\n\n".join(tables(results, batches)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
