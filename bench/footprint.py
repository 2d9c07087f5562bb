"""Install footprint: disk size of a fresh environment with the runtime only, and one that can train.

Both are built from scratch in a temporary folder, the way the README tells
users to install, from a copy of this checkout (a pip build in place would
leave build/ behind in the repo). torch's wheel is gigabytes, so this section
is opt-in and slow; nothing is cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .report import markdown_table, number

_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "venv*", "__pycache__", "build", "dist", "*.egg-info", "runs", ".*_cache", "*.pt", "*.onnx"
)


def environments(repo: str) -> dict[str, list[list[str]]]:
    """Environment name -> the pip install commands that build it (the torch pin is this environment's)."""
    pins = [f"torch=={_release('torch')}", f"torchvision=={_release('torchvision')}"]
    return {
        "empty venv (baseline)": [],
        "runtime only": [[f"{repo}[cpu]"]],
        "training": [pins, [f"{repo}[train,cpu]"]],
    }


def measure(repo: Path) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="cgan-footprint-") as tmp:
        source = Path(tmp) / "src"
        # Keep the package's shipped model (assets/*.onnx) but no local runs, checkpoints or venvs.
        shutil.copytree(repo, source, ignore=_skip_local_files(repo))
        for name, installs in environments(str(source)).items():
            venv = Path(tmp) / name.replace(" ", "-")
            start = time.perf_counter()
            _run([sys.executable, "-m", "venv", str(venv)])
            for packages in installs:
                _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages])
            seconds = time.perf_counter() - start
            size, files = disk_usage(venv)
            rows.append(
                {
                    "environment": name,
                    "install": " && ".join(f"pip install {' '.join(p)}" for p in installs).replace(str(source), "."),
                    "bytes": size,
                    "files": files,
                    "install_seconds": seconds,
                    "largest_packages": _largest_packages(venv),
                }
            )
    return {"rows": rows}


def _run(argv: list[str]) -> None:
    """Run quietly (pip warns about every index location it skips); its output only when it fails."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes on disk, files) under path, as `du` counts them: allocated blocks, hard links once."""
    seen, total, files = set(), 0, 0
    for root, _, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            files += 1
    return total, files


def _largest_packages(venv: Path, top: int = 4) -> dict[str, int]:
    site = next(venv.glob("lib/python*/site-packages"))
    sizes = {
        entry.name: disk_usage(entry)[0] if entry.is_dir() else entry.stat().st_size
        for entry in site.iterdir()
        if not entry.name.endswith((".dist-info", ".pth"))
    }
    return dict(sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:top])


def _skip_local_files(repo: Path):
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(_NOT_SOURCE(folder, names))
        if Path(folder) == repo / "assets":  # the shipped model is part of the package
            skipped -= {n for n in names if n.endswith(".onnx")}
        return skipped

    return ignore


def _release(package: str) -> str:
    """This environment's version without a local tag (2.14.1+cu130 -> 2.14.1): what a registry serves."""
    return version(package).split("+")[0]


def table(result: dict[str, Any]) -> str:
    rows = [
        [
            row["environment"],
            f"`{row['install']}`" if row["install"] else "—",
            number(row["bytes"] / 1e6),
            number(row["files"]),
            ", ".join(f"{name} {size / 1e6:,.0f}" for name, size in row["largest_packages"].items()),
            number(row["install_seconds"]),
        ]
        for row in result["rows"]
    ]
    return markdown_table(["environment", "install", "size MB", "files", "largest (MB)", "install s"], rows)
