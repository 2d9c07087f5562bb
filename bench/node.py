"""Node.js (cgan-edge.js, onnxruntime-node) beside Python (cgan_runtime, onnxruntime) in one run.

    python bench/node.py [--model assets/generator.onnx] [--batch 256] [--calls 20] [--rounds 3]

Both sides run generate_raw / generateRaw (portable noise, one session run) on every label round
robin, after a warm-up, each with onnxruntime's default thread count. The rounds alternate
Python and Node so that a change in the machine's load falls on both. Prints images/s (median
call) per side and their ratio; docs/performance.md ("Node.js") explains the numbers. Needs
`npm ci` in web/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from cgan_runtime import Generator

REPO = Path(__file__).resolve().parents[1]


def python_seconds(model: Path, batch: int, calls: int) -> list[float]:
    generator = Generator(model)
    labels = [i % generator.num_classes for i in range(batch)]
    for seed in range(3):
        generator.generate_raw(labels, seed=seed)
    seconds = []
    for seed in range(calls):
        start = time.perf_counter()
        generator.generate_raw(labels, seed=seed)
        seconds.append(time.perf_counter() - start)
    return seconds


def node_seconds(model: Path, batch: int, calls: int) -> list[float]:
    script = REPO / "bench" / "node_generate.mjs"
    out = subprocess.run(["node", str(script), str(model), str(batch), str(calls)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "assets" / "generator.onnx")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"python": [], "node": []}
    for _ in range(args.rounds):
        times["python"] += python_seconds(args.model, args.batch, args.calls)
        times["node"] += node_seconds(args.model, args.batch, args.calls)
    rate = {side: args.batch / statistics.median(s) for side, s in times.items()}
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, batch {args.batch}, "
          f"{args.rounds} rounds x {args.calls} calls per side")
    print("| runtime | images/s (median call) | ms per call (median) |")
    print("| --- | ---: | ---: |")
    for side, label in (("python", "Python, onnxruntime"), ("node", "Node.js, onnxruntime-node")):
        print(f"| {label} | {rate[side]:,.0f} | {1000 * statistics.median(times[side]):.1f} |")
    print(f"Node / Python: {rate['node'] / rate['python']:.2f}")


if __name__ == "__main__":
    main()
