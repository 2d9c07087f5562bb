"""Dynamic batching: requests waiting for the model are merged into one onnxruntime run, then split back.

One asyncio task owns the model. While it runs a batch (in its own thread,
off the event loop), new requests queue; the next batch takes as many queued
images as fit in `max_batch`, waiting at most `max_delay` after the oldest
arrived for more to join. A request's images do not depend on what shares its
batch: each brings its own noise (the portable rule), and every image of a
generator depends only on its own row.

Requests with class weights and those without are never merged, so each runs
exactly the graph `Generator` would run for it. A request larger than
`max_batch` runs alone, `max_batch` images at a time.

The queue is bounded in images: past `max_queue`, `submit` raises `QueueFull`
at once rather than letting waits grow without limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

# Runs a batch: noise [N, nz], labels [N], weights [N, classes] or None -> float32 images [N, C, H, W].
RunBatch = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


class QueueFull(Exception):
    """More images are waiting than the queue holds: the client should retry later."""


@dataclass
class _Pending:
    noise: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    arrived: float
    result: asyncio.Future[np.ndarray] = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.labels)


class Batcher:
    """Merge concurrent requests into batches of at most `max_batch` images for `run`, one batch at a time.

    `on_batch(images)` is called with each batch's size, for metrics.
    Start with `start()` inside the event loop, stop with `await stop()`
    (which lets the queued requests finish first).
    """

    def __init__(
        self,
        run: RunBatch,
        *,
        max_batch: int,
        max_delay: float,
        max_queue: int,
        on_batch: Callable[[int], None] = lambda images: None,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._queued_images = 0
        self._arrival = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cgan-model")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def queued_images(self) -> int:
        """Images waiting for the model (not counting the batch it is running)."""
        return self._queued_images

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Finish every queued request, then stop the worker and its thread."""
        self._stopping = True
        self._arrival.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def submit(self, noise: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The model's float32 images for these inputs, run in some batch; QueueFull when the queue is full."""
        if self._stopping:
            raise QueueFull("the server is shutting down")
        if self._queued_images + len(labels) > self._max_queue:
            raise QueueFull(f"{self._queued_images} images are already waiting (at most {self._max_queue})")
        pending = _Pending(noise, labels, weights, time.monotonic(), asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._queued_images += pending.count
        self._arrival.set()
        return await pending.result

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._arrival.clear()
                await self._arrival.wait()
                continue
            await self._gather(self._queue[0].arrived + self._max_delay)
            batch = self._take()
            noise = np.concatenate([p.noise for p in batch])
            labels = np.concatenate([p.labels for p in batch])
            weights = None if batch[0].weights is None else np.concatenate([p.weights for p in batch])
            self._on_batch(len(labels))
            try:
                images = await loop.run_in_executor(self._executor, self._run, noise, labels, weights)
            except Exception as exc:  # the model failed: every request of the batch hears why
                for pending in batch:
                    if not pending.result.done():
                        pending.result.set_exception(exc)
                continue
            start = 0
            for pending in batch:
                if not pending.result.done():  # a client that left has cancelled its future
                    pending.result.set_result(images[start : start + pending.count])
                start += pending.count

    async def _gather(self, deadline: float) -> None:
        """Wait until the head's batch is full, the deadline passes, or the server stops."""
        while not self._stopping and self._fits() < self._max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _fits(self) -> int:
        """Images the next batch would hold if it were taken now."""
        total = 0
        mixed = self._queue[0].weights is not None
        for pending in self._queue:
            if (pending.weights is not None) != mixed:
                continue
            if total and total + pending.count > self._max_batch:
                break
            total += pending.count
        return total

    def _take(self) -> list[_Pending]:
        """Remove and return the next batch: the head, then queued requests of its kind that still fit, in order."""
        head = self._queue.popleft()
        batch, total, left = [head], head.count, deque()
        mixed = head.weights is not None
        while self._queue:
            pending = self._queue.popleft()
            if (pending.weights is not None) == mixed and total + pending.count <= self._max_batch:
                batch.append(pending)
                total += pending.count
            else:
                left.append(pending)
        self._queue = left
        self._queued_images -= total
        return batch
