"""The run folder: whether it may be written, who writes it, and repairing it after a kill.

Files, and the order they are written in at the end of an epoch, so that a kill
at any moment leaves a consistent folder (each write is atomic):
    samples/epoch_NNN.png  1. the epoch's sample grid
    metrics.jsonl          2. one JSON line per epoch
    best.pt                3. when the epoch scored best
    last.pt                4. last: it records the epoch as done (and best.pt as best)
A kill before 4 redoes the epoch on --resume, which drops metrics lines past
last.pt's step first; a best.pt that last.pt names but that is missing is
rebuilt from last.pt when they are the same step, or else forgotten, loudly.
A kill before the first last.pt leaves no run (nothing to resume): a new run
takes the folder, removing the sample grids and metrics it left.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from cgan_runtime.files import atomic_write_bytes

LOCK = ".lock"
# atomic_write's temp files (".NAME.RANDOM.tmp", RANDOM 8 hex digits) of the files a run writes:
# only these are ours to remove; any other ".*.tmp" in the folder is someone else's.
_OUR_TEMP_FILES = re.compile(r"\.(last\.pt|best\.pt|metrics\.jsonl|epoch_\d{3,}\.png)\.[0-9a-f]{8}\.tmp")


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.best = self.path / "best.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples"

    def sample_grid(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:03d}.png"

    def _run_files(self) -> list[Path]:
        files = [p for p in (self.last, self.best, self.metrics) if p.exists()]
        return files + (sorted(self.samples.glob("epoch_*.png")) if self.samples.is_dir() else [])

    def holds_run(self) -> bool:
        """Whether a run has saved a checkpoint here: sample grids and metrics alone are the leftovers
        of one killed before its first last.pt, which nothing can resume."""
        return self.last.exists() or self.best.exists()

    def check_writable(self) -> None:
        """Fail before any work when the folder cannot be created or written."""
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"--out {self.path} is a file, not a folder")
        existing = self.path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise NotADirectoryError(f"cannot create run folder {self.path}: {existing} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write run folder {self.path}: {existing} is not writable")

    def check_new(self, overwrite: bool) -> None:
        if self.holds_run() and not overwrite:
            raise FileExistsError(
                f"{self.path} already holds a run: add --resume to continue it, "
                "--overwrite to replace it, or choose another --out"
            )

    @contextmanager
    def claimed(self) -> Iterator[None]:
        """Create the folder and hold its lock (released when the block ends, or the process dies)."""
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"another cgan-train is writing to {self.path}; wait for it or choose another --out") from None
            self._remove_stale_temp_files()
            yield
        finally:
            if created and not self.holds_run():  # failed before writing anything: leave no empty folder
                (self.path / LOCK).unlink(missing_ok=True)
                for folder in (self.samples, self.path):
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()
            os.close(fd)

    def clear(self) -> None:
        """Remove a previous run's files (--overwrite), under the lock."""
        for path in self._run_files():
            path.unlink()

    def _remove_stale_temp_files(self) -> None:
        # Temp files a killed run left, and only those (_OUR_TEMP_FILES); we hold the lock.
        for folder in (self.path, self.samples):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
                if _OUR_TEMP_FILES.fullmatch(tmp.name):
                    tmp.unlink(missing_ok=True)

    def write_sample_grid(self, epoch: int, png: bytes) -> None:
        self.samples.mkdir(exist_ok=True)
        atomic_write_bytes(self.sample_grid(epoch), png)

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def keep_metrics_until(self, step: int) -> None:
        """Drop lines of epochs that last.pt does not record (a kill before it was written)."""
        if not self.metrics.is_file():
            return
        kept = []
        for line in self.metrics.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut short by the kill
                continue
        atomic_write_bytes(self.metrics, "".join(f"{line}\n" for line in kept).encode())

    def repair_best(self, ckpt: dict[str, Any]) -> tuple[float, int | None, str | None]:
        """(best score, its step, a note for the user) once best.pt agrees with last.pt."""
        best_score, best_step = ckpt["best_score"], ckpt.get("best_step")
        if best_step is None or self.best.is_file():
            return best_score, best_step, None
        if best_step == ckpt["step"]:
            atomic_write_bytes(self.best, self.last.read_bytes())
            return best_score, best_step, f"best.pt was missing: rebuilt from last.pt (step {best_step})"
        return float("inf"), None, (
            f"best.pt (step {best_step}) is missing and cannot be rebuilt; the next scored epoch becomes best.pt"
        )
