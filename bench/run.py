"""Run the cgan-edge benchmarks: one command, one markdown table per section, every number in JSON.

    python bench/run.py --ckpt RUN/best.pt [--ckpt OTHER/best.pt] [--onnx-dir DIR] [--quick] [--json out.json]

Sections: throughput (with the matmul ceiling), coldstart, training; add
--footprint for the slow install-size section. docs/performance.md explains
every number. The first --ckpt is the one cold start uses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a file: import the suite as the `bench` package from the repo root, so its
    # module names (models, timing, ...) never shadow an installed top-level module.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    __package__ = "bench"

from . import machine, report
from .timing import Timing

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("throughput", "coldstart", "training", "footprint")
DEFAULT_SECTIONS = ("throughput", "coldstart", "training")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ckpt",
        type=Path,
        action="append",
        default=[],
        help="Training checkpoint; repeat for another network (one per network). The first is cold-started.",
    )
    parser.add_argument(
        "--onnx-dir",
        type=Path,
        help="Where ARCH.onnx, ARCH.fp16.onnx, ARCH.int8.onnx are, or get exported (default: temp)",
    )
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="MNIST, for training")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: checks the suite works, in seconds")
    parser.add_argument("--json", type=Path, help="Also write every number here")
    parser.add_argument(
        "--sections",
        default=",".join(DEFAULT_SECTIONS),
        help=f"Comma-separated, from {', '.join(SECTIONS)} (default: all but footprint)",
    )
    parser.add_argument("--footprint", action="store_true", help="Add the install-size section (slow: builds venvs)")
    parser.add_argument(
        "--threads",
        type=int,
        default=machine.usable_cores(),
        help="Threads for onnxruntime, torch and the ceiling (default: usable cores)",
    )
    parser.add_argument("--runs", type=int, help="Cold-start runs per command (default 7, quick 1)")
    parser.add_argument("--train-steps", type=int, help="Training steps per arch (default 100, quick 2)")
    parser.add_argument(
        "--runtime-python",
        type=Path,
        default=Path(sys.executable),
        help="Python of the environment whose cgan-gen is cold-started (e.g. a runtime-only venv)",
    )
    parser.add_argument(
        "--torch-python", type=Path, default=Path(sys.executable), help="Python that runs the torch cold-start script"
    )
    parser.add_argument(
        "--train-run",
        type=Path,
        action="append",
        default=[],
        help="A finished run folder (trained with evaluation) to time to --target",
    )
    parser.add_argument(
        "--target", action="append", default=[], help="Quality target on metrics.jsonl, e.g. fid<=10 (repeatable)"
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if args.footprint:
        args.sections.append("footprint")
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    if not args.ckpt and {"throughput", "coldstart"} & set(args.sections):
        parser.error("--ckpt is needed for the throughput and cold-start sections")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quick = args.quick
    timing = Timing(min_time=0.01, repeats=2) if quick else Timing(min_time=0.3, repeats=5)
    results: dict[str, Any] = {"machine": machine.describe(), "quick": quick, "threads": args.threads}
    print(f"# cgan-edge benchmarks{' (quick)' if quick else ''}\n\n{machine.summary(results['machine'])}")

    with tempfile.TemporaryDirectory(prefix="cgan-bench-onnx-") as tmp:
        onnx_dir = args.onnx_dir or Path(tmp)
        needs_models = {"throughput", "coldstart"} & set(args.sections)
        subjects = _prepare(args.ckpt, onnx_dir, every_variant="throughput" in args.sections) if needs_models else []
        if "throughput" in args.sections:
            batches = (1, 64) if quick else (1, 64, 256, 1024)
            results["throughput"] = _section("Throughput", lambda: _throughput(subjects, batches, args, timing, quick))
        if "coldstart" in args.sections:
            runs = args.runs or (1 if quick else 7)
            results["coldstart"] = _section("Cold start", lambda: _coldstart(subjects[0], args, runs))
    if "training" in args.sections:
        steps = args.train_steps or (2 if quick else 100)
        results["training"] = _section("Training", lambda: _training(args, steps))
    if "footprint" in args.sections:
        results["footprint"] = _section("Install footprint", _footprint)

    if args.json:
        report.write_json(args.json, results)
        print(f"\nwrote {args.json}")
    return 0


def _prepare(ckpts: list[Path], onnx_dir: Path, every_variant: bool) -> list:
    from . import models

    # Cold start needs only the fp32 file; throughput times every variant.
    variants = models.VARIANTS if every_variant else ("fp32",)
    subjects = [models.prepare(ckpt, onnx_dir, variants) for ckpt in ckpts]
    archs = [s.arch for s in subjects]
    if len(set(archs)) != len(archs):
        sys.exit(f"one --ckpt per network, got networks {archs}")
    return subjects


def _section(title: str, run: Callable[[], tuple[dict[str, Any], list[str]]]) -> dict[str, Any]:
    """Run one section between two load readings and print its tables; its numbers go to JSON."""
    before = machine.load()
    numbers, tables = run()
    after = machine.load()
    print(f"\n## {title}\n\n_load (1 min) {before['load_1min']} before, {after['load_1min']} after_\n")
    print("\n\n".join(tables))
    return {"load_before": before, "load_after": after, **numbers}


def _throughput(subjects: list, batches: tuple[int, ...], args: argparse.Namespace, timing: Timing, quick: bool):
    from . import ceiling, opprofile, throughput

    size = 256 if quick else 2048
    # The ceiling is measured before and after the generators and the faster kept: a burst of
    # other load during one measurement must not lower it and flatter every percentage.
    first = ceiling.measure(size, args.threads, timing)
    measured = {s.arch: throughput.measure(s, batches, args.threads, timing) for s in subjects}
    second = ceiling.measure(size, args.threads, timing)
    ceil = max(first, second, key=lambda c: c["gflops"])
    per_arch = {arch: throughput.against(result, ceil["gflops"]) for arch, result in measured.items()}
    tables = [ceiling.table(ceil)]
    profiles = {}
    for subject in subjects:
        result = per_arch[subject.arch]
        profiles[subject.arch] = opprofile.measure(
            subject.onnx["fp32"], subject.spec, max(batches), args.threads, runs=5 if quick else 50
        )
        heading = f"**{subject.arch}** ({result['flops_per_image'] / 1e6:.2f} MFLOP per image)"
        tables += [f"{heading}\n\n{throughput.table(result)}", opprofile.table(profiles[subject.arch])]
    return {"ceiling": ceil, "ceiling_measurements": [first, second], "generators": per_arch, "ops": profiles}, tables


def _coldstart(subject, args: argparse.Namespace, runs: int):
    from . import coldstart

    result = coldstart.measure(subject.onnx["fp32"], subject.ckpt, args.runtime_python, args.torch_python, runs)
    result["model"] = str(subject.onnx["fp32"])
    return result, [coldstart.table(result), coldstart.imports_table(result)]


def _training(args: argparse.Namespace, steps: int):
    from cgan_train.config import RECIPES

    from . import training

    result = training.measure(sorted(RECIPES), args.data_dir, steps, args.threads)
    tables = [training.table(result)]
    if args.train_run:
        targets = [training.parse_target(t) for t in args.target]
        result["to_targets"] = [training.time_to_targets(run, targets) for run in args.train_run]
        tables.append(training.targets_table(result["to_targets"]))
    else:
        tables.append("Time to the quality targets: not measured (pass --train-run RUN --target METRIC<=VALUE).")
    return result, tables


def _footprint():
    from . import footprint

    result = footprint.measure(REPO)
    return result, [footprint.table(result)]


if __name__ == "__main__":
    sys.exit(main())
