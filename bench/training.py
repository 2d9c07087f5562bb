"""Training speed per architecture, and how long a finished run took to reach its quality targets.

Speed comes from short runs of the real trainer (`cgan_train.trainer.train`,
no per-epoch evaluation), read back from the images/s it logs itself in
metrics.jsonl. That rate covers the whole training step (G and D forward,
backward and Adam), data already in memory, so it is the number an epoch's
wall time follows from.
"""

from __future__ import annotations

import contextlib
import io
import json
import operator
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from cgan_train.config import TrainConfig
from cgan_train.trainer import train

from .report import markdown_table, number

NO_GPU = "not measured (no GPU)"
_OPERATORS = {"<=": operator.le, ">=": operator.ge}


def devices() -> list[str]:
    """CPU always; CUDA when torch sees a GPU (a lent device machine)."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def measure(archs: Sequence[str], data_dir: Path, steps: int, threads: int) -> dict[str, Any]:
    """images/s of `steps` training steps per arch on each available device."""
    torch.set_num_threads(threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cgan-train-bench-") as tmp:
        for arch in archs:
            cfg = TrainConfig.for_recipe(arch, max_steps=steps, evaluate=False)
            rates = {}
            for device in devices():
                out = Path(tmp) / f"{arch}-{device}"
                with contextlib.redirect_stdout(io.StringIO()):  # the trainer's progress bar and epoch lines
                    train(cfg, data_dir, out, device=device)
                rates[device] = _last_record(out / "metrics.jsonl")["images_per_s"]
            rows.append({"arch": arch, "steps": steps, "batch_size": cfg.batch_size, "images_per_s": rates})
    return {"threads": threads, "rows": rows}


@dataclass(frozen=True)
class Target:
    """A quality target on a metrics.jsonl field, e.g. `fid<=10` or `label_accuracy>=95`."""

    metric: str
    op: str
    value: float

    def met(self, record: dict[str, Any]) -> bool:
        return self.metric in record and _OPERATORS[self.op](record[self.metric], self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_target(text: str) -> Target:
    match = re.fullmatch(r"\s*(\w+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*", text)
    if not match:
        raise ValueError(f"target must look like METRIC<=VALUE or METRIC>=VALUE, got {text!r}")
    return Target(match[1], match[2], float(match[3]))


def time_to_targets(run_dir: Path, targets: Sequence[Target]) -> dict[str, Any]:
    """Training seconds (evaluation excluded) until the first epoch that met every target.

    Read from a finished run's metrics.jsonl, which must have been trained
    with evaluation on: the targets are scored there, not here.
    """
    seconds, result = 0.0, {"run": str(run_dir), "targets": [str(t) for t in targets], "reached": False}
    for record in _records(run_dir / "metrics.jsonl"):
        seconds += record["seconds"]
        if all(target.met(record) for target in targets):
            return {
                **result,
                "reached": True,
                "epoch": record["epoch"],
                "step": record["step"],
                "training_seconds": seconds,
                "metrics": {t.metric: record[t.metric] for t in targets},
            }
    return {**result, "training_seconds": seconds}


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _last_record(path: Path) -> dict[str, Any]:
    return _records(path)[-1]


def table(result: dict[str, Any]) -> str:
    rows = []
    for row in result["rows"]:
        rates = row["images_per_s"]
        gpu = number(rates["cuda"]) if "cuda" in rates else NO_GPU
        rows.append([row["arch"], f"{row['steps']} x {row['batch_size']}", number(rates["cpu"]), gpu])
    headers = ["arch", "steps x batch", f"CPU images/s ({result['threads']} threads)", "GPU images/s"]
    return markdown_table(headers, rows)


def targets_table(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        reached = f"epoch {r['epoch']} (step {r['step']})" if r["reached"] else "not reached"
        rows.append([r["run"], ", ".join(r["targets"]), reached, number(r["training_seconds"] / 60, 1)])
    return markdown_table(["run", "targets", "first met at", "training minutes"], rows)
