"""More than one process under torchrun: who we are, the process group, synced BatchNorm.

`torchrun --nproc-per-node N $(which cgan-train) ...` sets RANK, WORLD_SIZE and
LOCAL_RANK; a plain `cgan-train` sets none and stays one process with no process
group at all. The rules every rank follows (trainer.py applies them):

- `--batch-size` is the global batch; each process trains on its own 1/N slice.
- Every random draw that defines a step (noise, fake labels, batch order) is made
  for the global batch from (seed, step), the same on every rank, and each rank
  takes its slice: N processes see the batches one process would.
- The generator's BatchNorm layers normalise with the global batch's statistics.
- Rank 0 alone evaluates and writes the run folder; the others wait at a barrier.
- A non-finite loss in any rank stops every rank at the same look, naming the
  earliest bad step over all of them (`earliest`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

# Rank 0 evaluates (and, on a first run, trains the classifier) while the others
# wait; the default collective timeout would end the run during a slow one.
WAIT_LIMIT = timedelta(minutes=60)


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: rank among `world` processes, and its device."""

    rank: int
    world: int
    local_world: int  # processes on this machine (threads are shared between them)
    device: torch.device
    owns_group: bool = False  # whether `start` made the process group (and `stop` ends it)

    @property
    def writes(self) -> bool:
        """Whether this process evaluates and writes the run folder (rank 0)."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device '{name}' (choose from auto, cpu, cuda)")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"process {local_rank} on this machine has no GPU of its own: torch sees {torch.cuda.device_count()}; "
            "start at most that many processes per machine (--nproc-per-node)"
        )
    return torch.device("cuda", local_rank)


def local_processes() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if launched_by_torchrun() else 1


def default_threads() -> int:
    """Threads per process that do not oversubscribe the machine.

    OMP_NUM_THREADS when set; else the cores this process may use, less those
    other programs keep busy (the 1-minute load average), shared between the
    processes on this machine. Too many threads on busy cores is what slows
    training (measured: 114 img/s with 2 threads on a busy 2-core machine, 999
    with 1), while one thread too few costs little.
    """
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = int(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, (cores - busy) // local_processes())


def start(device: str) -> Processes:
    """Join torchrun's process group (NCCL on CUDA, gloo on CPU), or stay one process."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Processes(rank=0, world=1, local_world=1, device=resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns_group = not dist.is_initialized()  # a caller may have made one already
    if owns_group:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=WAIT_LIMIT)
    return Processes(rank=dist.get_rank(), world=dist.get_world_size(), local_world=local_processes(), device=dev,
                     owns_group=owns_group)


def stop(procs: Processes) -> None:
    if procs.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(procs: Processes) -> None:
    if procs.world > 1:
        dist.barrier()


@contextmanager
def rank0_first(procs: Processes) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. downloads the data), then the others."""
    if not procs.writes:
        barrier(procs)
    yield
    if procs.writes:
        barrier(procs)


def local_batch(batch_size: int, procs: Processes, pairs: bool = False) -> slice:
    """This rank's slice of a global batch; with `pairs`, a slice never splits a pair (2k, 2k+1)."""
    multiple = procs.world * (2 if pairs and procs.world > 1 else 1)
    if batch_size % multiple:
        raise ValueError(
            f"batch size {batch_size} does not split evenly over {procs.world} processes; "
            f"use a multiple of {multiple}"
        )
    per_rank = batch_size // procs.world
    return slice(procs.rank * per_rank, (procs.rank + 1) * per_rank)


def all_finite(values: torch.Tensor, procs: Processes) -> bool:
    """Whether `values` are finite on every rank (so all ranks stop together)."""
    bad = (~torch.isfinite(values)).any().float().reshape(1)
    if procs.world > 1:
        dist.all_reduce(bad)
    return bad.item() == 0


def earliest(value: torch.Tensor, procs: Processes) -> int:
    """The smallest of a one-element integer tensor over every rank."""
    value = value.reshape(1).clone()
    if procs.world > 1:
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return int(value.item())


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with a gradient: each rank's input feeds every rank's output."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        total = grad.clone()
        dist.all_reduce(total)
        return total


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch on CPU, where torch's SyncBatchNorm refuses to run.

    The per-channel sums are summed over the ranks by an all_reduce whose
    backward all-reduces the gradients too, so gradients are those of one
    process seeing the whole batch once DDP averages them. Outside a process
    group, or in eval mode, it is plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        local = torch.cat([x.sum(dims), (x * x).sum(dims), x.new_tensor([x.numel() / channels])])
        total = _SumOverRanks.apply(local)
        count = total[-1]
        mean = total[:channels] / count
        var = total[channels : 2 * channels] / count - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.item()
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1), momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(module: nn.Module, procs: Processes) -> nn.Module:
    """`module` with its BatchNorm layers normalising over the global batch (same parameters)."""
    if procs.world == 1:
        return module
    if procs.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            synced = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats)
            if child.affine:  # the same Parameter objects: optimizers and EMA keep pointing at them
                synced.weight, synced.bias = child.weight, child.bias
            synced.running_mean, synced.running_var = child.running_mean, child.running_var
            synced.num_batches_tracked = child.num_batches_tracked
            setattr(module, name, synced)
        else:
            sync_batchnorm(child, procs)
    return module


def data_parallel(module: nn.Module, procs: Processes) -> nn.Module:
    """`module` wrapped in DistributedDataParallel, or itself in one process.

    Buffers are not broadcast at each forward: the only ones (BatchNorm statistics of the
    generator) are computed from the global batch and so already agree.
    """
    if procs.world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [procs.device.index] if procs.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)
