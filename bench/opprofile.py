"""Where an exported generator's time goes, per operator type, from onnxruntime's own profiler.

This is the evidence for what bounds a generator below the GEMM ceiling:
Gemm time that is slow for its shapes, or time in the operators between
the Gemms (normalisation, activations, reshapes) that no GEMM speed helps.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from cgan_runtime.contract import INPUT_LABEL, INPUT_NOISE, ModelSpec
from cgan_runtime.noise import noise_for_labels

from .report import markdown_table, number


def measure(model: Path, spec: ModelSpec, batch: int, threads: int, runs: int) -> dict[str, Any]:
    """Microseconds per run and share of kernel time for each operator type, over `runs` profiled runs."""
    labels = np.arange(batch, dtype=np.int64) % spec.num_classes
    feed = {INPUT_NOISE: noise_for_labels(labels, spec.nz, seed=0), INPUT_LABEL: labels}
    with tempfile.TemporaryDirectory(prefix="cgan-opprofile-") as tmp:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # A session of its own: the runtime's Generator has no reason to expose profiling.
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values())
    # The first run also builds caches; over many runs it is noise, so it is not singled out.
    return {
        "batch": batch,
        "runs": runs,
        "ops": {op: {"us_per_run": us / runs, "percent": 100 * us / total} for op, us in per_op.most_common()},
    }


def table(result: dict[str, Any]) -> str:
    rows = [[f"`{op}`", number(v["us_per_run"]), number(v["percent"], 1)] for op, v in result["ops"].items()]
    header = f"operator (onnxruntime fp32, batch {result['batch']})"
    return markdown_table([header, "µs per run", "% of kernel time"], rows)
