"""What the numbers were measured on: CPU, cores, library versions, and how busy the machine was."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("onnxruntime", "onnx", "torch", "numpy", "pillow", "typer")


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


def load() -> dict[str, float]:
    """Load averages now: on a shared machine every number must carry how busy it was."""
    one, five, fifteen = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2), "load_15min": round(fifteen, 2)}


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        **load(),
    }


def summary(machine: dict[str, Any]) -> str:
    """One line for the top of the printed report."""
    packages = ", ".join(f"{name} {v}" for name, v in machine["packages"].items() if v)
    return (
        f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}; {packages}; "
        f"load {machine['load_1min']} (1 min) at start"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None
