"""The run's progress bar (steps done of the run's steps, time left): redrawn on a clock, not every N steps.

A fixed step interval sits at 0 for tens of seconds on a slow CPU and costs
time on a fast GPU; a time interval gives a live bar on both. Without a
terminal (a log file) it writes a line every LOG_SECONDS instead.
"""

from __future__ import annotations

import time
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

REDRAW_SECONDS = 0.5
LOG_SECONDS = 60.0


class EpochBar:
    """Steps done of `total` and the images/s so far; silent when `show` is false."""

    def __init__(self, label: str, total: int, done: int, images_per_step: int, show: bool = True,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.images_per_step, self.clock = images_per_step, clock
        self.start_step = self.completed = done
        self.started = self.redrawn = clock()
        console = Console()
        # Not drawn into a log file (stdout redirected): the epoch lines say it all there.
        self._bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                             TimeRemainingColumn(), console=console, transient=True,
                             disable=not (show and console.is_terminal))
        self._task = self._bar.add_task("train", total=total, completed=done, rate="")
        self.total, self.label = total, label
        self._log = show and not console.is_terminal
        self.logged = self.started

    def __enter__(self) -> "EpochBar":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def step_done(self) -> None:
        self.completed += 1
        now = self.clock()
        if now - self.redrawn >= REDRAW_SECONDS:
            self.redrawn = now
            self._bar.update(self._task, completed=self.completed, rate=f"{self.images_per_s(now):,.0f} img/s")
        if self._log and now - self.logged >= LOG_SECONDS:
            self.logged = now
            print(self.log_line(now), flush=True)

    def log_line(self, now: float) -> str:
        """e.g. "steps 1200/2500, 310 img/s, about 4 min left"."""
        rate = self.images_per_s(now)
        left = (self.total - self.completed) * self.images_per_step / max(rate, 1e-9)
        return (f"{self.label} {self.completed}/{self.total}, {rate:,.0f} img/s, "
                f"about {max(1, round(left / 60))} min left")

    def images_per_s(self, now: float | None = None) -> float:
        elapsed = (self.clock() if now is None else now) - self.started
        return (self.completed - self.start_step) * self.images_per_step / max(elapsed, 1e-9)

    @property
    def shown(self) -> int:
        """The step count the bar displays."""
        return int(self._bar.tasks[0].completed)
