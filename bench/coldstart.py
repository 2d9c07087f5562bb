"""Cold start: process start to PNG written, for cgan-gen, its bare-onnxruntime floor and the torch way.

Every run is its own process, timed from spawn to exit and reaped with
os.wait4 for that child's own peak RSS, by the small launcher in
scripts/launch.py (see there why not from this process). Runs are
interleaved so a burst of load hits every command alike; one untimed round
first fills the page cache and the bytecode cache.

Children get a private PYTHONPYCACHEPREFIX and never PYTHONDONTWRITEBYTECODE:
every command then starts from cached bytecode, as a pip-installed package
does, whatever the developer's environment says (an editable install under
PYTHONDONTWRITEBYTECODE would recompile cgan_runtime on every run).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .report import markdown_table, number

SCRIPTS = Path(__file__).parent / "scripts"
LABEL, SEED = 5, 0
CGAN_GEN = "cgan-gen"
FLOOR = "onnxruntime script (floor)"
TORCH = "torch script"
INTERPRETER = "python -c pass"


@dataclass(frozen=True)
class Command:
    name: str
    argv: list[str]
    output: Path | None  # the PNG it writes; None for the bare interpreter


def commands(model: Path, ckpt: Path, runtime_python: Path, torch_python: Path, out_dir: Path) -> list[Command]:
    """The commands compared, each writing the same digit to its own file."""
    rt, job = str(runtime_python), [str(LABEL), str(SEED)]
    floor_png, gen_png, torch_png = out_dir / "floor.png", out_dir / "cgan-gen.png", out_dir / "torch.png"
    # cgan-gen's console script is run by its own venv's python, exactly what its shebang line does.
    gen = [rt, str(runtime_python.parent / "cgan-gen"), "--label", str(LABEL), "--seed", str(SEED)]
    return [
        Command(INTERPRETER, [rt, "-c", "pass"], None),
        Command(FLOOR, [rt, str(SCRIPTS / "ort_floor.py"), str(model), *job, str(floor_png)], floor_png),
        Command(CGAN_GEN, [*gen, "--model", str(model), "-o", str(gen_png)], gen_png),
        Command(
            TORCH, [str(torch_python), str(SCRIPTS / "torch_generate.py"), str(ckpt), *job, str(torch_png)], torch_png
        ),
    ]


def child_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def measure(model: Path, ckpt: Path, runtime_python: Path, torch_python: Path, runs: int) -> dict[str, Any]:
    """Median wall time and peak RSS over `runs` interleaved runs of each command, plus import costs."""
    with tempfile.TemporaryDirectory(prefix="cgan-coldstart-") as tmp:
        tmp_path = Path(tmp)
        env = child_env(tmp_path / "pycache")
        cmds = commands(model, ckpt, runtime_python, torch_python, tmp_path)
        # One extra round first, dropped: it fills the page cache and the bytecode cache.
        samples = _launch([cmd.argv for cmd in cmds], env, runs + 1, tmp_path / "stderr.log")
        same = _same_image(cmds)
        profiled = [cmd for cmd in cmds if cmd.name in (CGAN_GEN, FLOOR)]
        imports = {cmd.name: import_profile(cmd.argv, env, min(runs, 5)) for cmd in profiled}
    return {
        "runs": runs,
        "label": LABEL,
        "seed": SEED,
        "commands": {cmd.name: _summary(runs_[1:]) for cmd, runs_ in zip(cmds, samples, strict=True)},
        "max_pixel_diff_vs_cgan_gen": same,
        "imports": imports,
    }


def _launch(argvs: list[list[str]], env: dict[str, str], rounds: int, log: Path) -> list[list[list[float]]]:
    """Per command, [seconds, peak RSS bytes] of each round, from scripts/launch.py."""
    job = {"commands": argvs, "rounds": rounds, "env": env, "log": str(log)}
    launcher = [sys.executable, "-S", "-I", str(SCRIPTS / "launch.py")]
    done = subprocess.run(launcher, input=json.dumps(job), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start run failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def _summary(runs: list[list[float]]) -> dict[str, Any]:
    seconds = [s for s, _ in runs]
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "peak_rss_mb": max(rss for _, rss in runs) / 1e6,
        "runs": seconds,
    }


def import_profile(argv: list[str], env: dict[str, str], repeats: int, top: int = 8) -> dict[str, Any]:
    """`python -X importtime` runs: total import time and the costliest packages, medians over `repeats`.

    Each module's own ("self") time is charged to its top-level package, so
    `numpy` holds all of numpy however deep it was first imported from.
    """
    python, *args = argv
    profiles = [_import_times([python, "-X", "importtime", *args], env) for _ in range(repeats)]
    packages = {package for profile in profiles for package in profile}
    per_package = {p: statistics.median(profile.get(p, 0.0) for profile in profiles) for p in packages}
    costliest = sorted(per_package, key=per_package.get, reverse=True)[:top]
    return {
        "total_ms": statistics.median(sum(profile.values()) for profile in profiles),
        "packages_ms": per_package,
        "costliest": costliest,
    }


def _import_times(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of import time per top-level package, from one run."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    per_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        per_package[package] = per_package.get(package, 0.0) + int(self_us) / 1000
    return per_package


def _same_image(cmds: list[Command]) -> dict[str, int]:
    """Largest pixel difference between each command's PNG and cgan-gen's: 0 means the same digit."""
    images = {cmd.name: np.asarray(Image.open(cmd.output), dtype=np.int16) for cmd in cmds if cmd.output}
    reference = images[CGAN_GEN]
    return {name: int(np.abs(image - reference).max()) for name, image in images.items() if name != CGAN_GEN}


def table(result: dict[str, Any]) -> str:
    rows_ = result["commands"]
    floor = rows_[FLOOR]["median_s"]
    rows = []
    for name, row in rows_.items():
        diff = result["max_pixel_diff_vs_cgan_gen"].get(name)
        same = "—" if name in (INTERPRETER, CGAN_GEN) else ("yes" if diff == 0 else f"no (max diff {diff})")
        rows.append(
            [
                name,
                number(row["median_s"], 3),
                f"{number(row['min_s'], 3)}-{number(row['max_s'], 3)}",
                f"{row['median_s'] / floor:.2f}x",
                number(row["peak_rss_mb"], 1),
                same,
            ]
        )
    headers = ["command", f"median s ({result['runs']} runs)", "range s", "vs floor", "peak RSS MB", "same PNG"]
    return markdown_table(headers, rows)


def imports_table(result: dict[str, Any]) -> str:
    """cgan-gen's costliest packages to import, beside what the floor pays for the same packages."""
    gen, floor = result["imports"][CGAN_GEN], result["imports"][FLOOR]
    rows = [["**all imports**", number(gen["total_ms"], 1), number(floor["total_ms"], 1)]]
    for package in gen["costliest"]:
        rows.append(
            [f"`{package}`", number(gen["packages_ms"][package], 1), number(floor["packages_ms"].get(package), 1)]
        )
    return markdown_table(["package (self time of all its modules)", "cgan-gen ms", "floor ms"], rows)
