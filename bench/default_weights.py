"""What the default of `label_weights` costs: the shipped file against the same graph with it folded.

    python bench/default_weights.py [--model assets/generator.onnx] [--calls 200] [--rounds 5]

Format version 2 gives `label_weights` a default by making it an overridable initializer (a graph
input with a value). onnxruntime cannot fold what a caller may override, so a plain noise+label
call still computes `(1 - sum(w)) * table[label] + w @ table` with w = 0. The folded copy has the
same zeros as a constant (no input), which onnxruntime may fold away: the difference between the
two, fed noise and label only, is the default's cost. Rounds alternate the two files; reports the
median call at batch 1 and 256. Needs onnx (the `train` extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = "label_weights"


def folded(model: onnx.ModelProto) -> bytes:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    inputs = [i for i in copy.graph.input if i.name != WEIGHTS]
    if len(inputs) == len(copy.graph.input):
        raise SystemExit(f"the model has no '{WEIGHTS}' input: nothing to fold")
    del copy.graph.input[:]
    copy.graph.input.extend(inputs)
    return copy.SerializeToString()


def median_call(session: onnxruntime.InferenceSession, batch: int, nz: int, calls: int) -> float:
    feeds = {"noise": np.random.default_rng(0).standard_normal((batch, nz), dtype=np.float32),
             "label": np.arange(batch, dtype=np.int64) % 10}
    for _ in range(5):
        session.run(None, feeds)
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run(None, feeds)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "assets" / "generator.onnx")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = onnx.load(str(args.model))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the warning this compares is not news here
    sessions = {"default (shipped)": onnxruntime.InferenceSession(model.SerializeToString(), options),
                "folded": onnxruntime.InferenceSession(folded(model), options)}
    nz = sessions["folded"].get_inputs()[0].shape[1]
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, onnxruntime {onnxruntime.__version__}")
    print("| batch | default (shipped), ms | folded, ms | default / folded |")
    print("| ---: | ---: | ---: | ---: |")
    for batch in (1, 256):
        calls = args.calls if batch == 1 else max(args.calls // 10, 10)
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(args.rounds):
            for name, session in sessions.items():
                times[name].append(median_call(session, batch, nz, calls))
        default, fold = (statistics.median(times[name]) for name in sessions)
        print(f"| {batch} | {1000 * default:.3f} | {1000 * fold:.3f} | {default / fold:.3f} |")


if __name__ == "__main__":
    main()
