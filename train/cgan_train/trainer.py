"""The training loop, top to bottom: plan, data, models, then per epoch: steps, a look when due, save.

`train` reads as the list of what happens; each piece below it does one job.
The run folder (rundir.py) holds last.pt, best.pt, samples/ and metrics.jsonl.
Under torchrun the same code runs in every process (distributed.py has the rules).

Every random draw of step s (noise, fake labels) comes from (seed, step), and
each epoch's batch order from (seed, epoch): a resumed run, or one split over N
processes, sees exactly the batches of one uninterrupted run.

A run's length is counted in steps (TrainConfig.planned_steps). Every epoch ends
with last.pt; a "look" (the weight average's BatchNorm statistics, the score that
chooses best.pt, the sample grid) costs a fixed time whatever the epoch's length,
so looks are spaced to take about LOOK_SHARE of the wall time (Looks).
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cgan_runtime.contract import ModelSpec
from cgan_runtime.images import encode_png, make_grid, to_uint8

from . import distributed
from .augment import augment
from .checkpoint import check_resumable, load_checkpoint, load_weights, save_checkpoint
from .config import TrainConfig
from .data import LabelledImages, check_fits, data_fingerprint, load_data, memory_needed, to_model_range
from .distributed import Processes
from .footprint import check_training_fits
from .losses import classification_loss, discriminator_loss, generator_loss, mode_seeking_penalty
from .models import build_models, widen_label_tables
from .progress import EpochBar
from .rundir import RunFolder
from .samplers import checkpoint_sampler

SAMPLES_PER_LABEL = 10
# Steps between looks at the losses. A look waits for the device (and, under torchrun,
# for every process); looking every step would stall a GPU's queue of work.
DIVERGENCE_CHECK_EVERY = 50
_NO_STEP = 2**62  # "no bad step yet": larger than any step, so the earliest bad one is the minimum
# The most of a run's wall time that looks (recalibration, scoring, sample grids) may take.
LOOK_SHARE = 0.1
# Per look: generated images for the average's BatchNorm statistics (4 per training image,
# within these bounds); Evaluator.quick sizes the scored samples to the set likewise.
RECALIBRATION_IMAGES = (1_000, 10_000)
# A checkpoint "is not ready" while its label accuracy is less than this share of the way from chance to 100%.
READY_SHARE = 0.25


class TrainingDiverged(RuntimeError):
    """A loss or weight became NaN or infinite; nothing of that state was saved."""


def train(cfg: TrainConfig, data_dir: Path, out_dir: Path, device: str = "auto", download: bool = False,
          resume: bool = False, overwrite: bool = False) -> Path:
    """Train a CGAN into `out_dir`; return the checkpoint to export (best.pt, or last.pt without scoring).

    With `resume`, `cfg` may change only the plan (config.PLAN_FIELDS) of the
    run in out_dir/last.pt. Raises ValueError for bad settings or data,
    FileNotFoundError/FileExistsError for a missing or already used run folder,
    TrainingDiverged when the losses stop being finite, OSError when writing fails.
    """
    # The run records where its sets were read (absolute): a resume without --data-dir reads them there.
    cfg = replace(cfg, data_dir=str(Path(data_dir).resolve()))
    procs = distributed.start(device)
    try:
        return _train(cfg, data_dir, RunFolder(out_dir), procs, download, resume, overwrite)
    finally:
        distributed.stop(procs)


def _train(cfg: TrainConfig, data_dir: Path, run: RunFolder, procs: Processes, download: bool,
           resume: bool, overwrite: bool) -> Path:
    run.check_writable()
    ckpt = None
    if resume:
        ckpt, cfg = resume_point(run, cfg, procs.device)
    if ckpt is None:
        run.check_new(overwrite)
    mine = distributed.local_batch(cfg.batch_size, procs, pairs=cfg.diversity > 0)  # refuses an uneven split early
    with distributed.rank0_first(procs):  # rank 0 downloads, if anyone must
        data = load_training_data(cfg, data_dir, download)
    cfg = same_data(cfg, data_fingerprint(cfg.data_source(data_dir)), ckpt)
    images, labels = training_tensors(cfg, data, procs.device)
    steps_per_epoch = images.shape[0] // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the {images.shape[0]} training images")
    # A new run decides; a resumed one kept its choices.
    cfg = cfg.decided_for(images.shape[0], cfg.planned_steps(steps_per_epoch))
    check_training_fits(cfg.model_spec(data), cfg.critic_width, mine.stop - mine.start, cfg.ema > 0, procs.device)
    models = Models.build(cfg, procs, ckpt, data)
    evaluator = make_evaluator(cfg, data_dir, download, procs.device, data) if procs.writes else None
    planned = cfg.planned_steps(steps_per_epoch)
    looks = Looks(len(images), planned)
    with run.claimed() if procs.writes else nullcontext():
        progress = start_run(run, ckpt, overwrite, procs)
        distributed.barrier(procs)  # the folder is ready before anyone trains
        with EpochBar("steps", planned, progress.step, cfg.batch_size, show=procs.writes) as bar:
            while progress.step < planned:
                epoch_number = progress.epoch + 1  # the epoch under way, 1-based (a stop mid-epoch included)
                record = train_epoch(cfg, models, images, labels, progress, steps_per_epoch, procs, mine, bar)
                check_weights(models, progress, procs)
                if procs.writes:
                    end_epoch(cfg, models, run, progress, epoch_number, record, evaluator, looks)
                distributed.barrier(procs)  # the others wait while rank 0 scores and writes
    exported = run.best if progress.best_step is not None else run.last
    if procs.writes:
        print(final_line(exported, progress, models.spec.num_classes))
    return exported


def final_line(exported: Path, position: "Position", num_classes: int) -> str:
    """The run's last line: the checkpoint to export, how it was chosen, or why it is not ready."""
    if position.best_step is None:
        return f"no best.pt: the run was not scored (--no-eval); checkpoint to export: {exported}"
    accuracy, chance = position.best_accuracy, 1 / num_classes
    if accuracy is not None and accuracy < chance + READY_SHARE * (1 - chance):
        return (f"not ready: {exported} labels {accuracy:.0%} of its samples right (chance is {chance:.0%}); "
                "train longer (--epochs) before exporting it")
    shown = f", label accuracy {accuracy:.0%}" if accuracy is not None else ""
    return (f"checkpoint to export: {exported} (step {position.best_step}: the lowest FID among the run's "
            f"looks, a coarse choice{shown})")


# --- the plan: a new run, or the one in the folder ------------------------------


def run_config(out_dir: Path) -> TrainConfig:
    """The config of the run in `out_dir` (its last.pt), to resume it with."""
    return TrainConfig.from_dict(_last_checkpoint(RunFolder(out_dir), "cpu")["train_config"])


def resume_point(run: RunFolder, cfg: TrainConfig, device: torch.device) -> tuple[dict[str, Any], TrainConfig]:
    """last.pt and `cfg` with the run's decisions, once `cfg` is known to change nothing but the plan."""
    ckpt = _last_checkpoint(run, device)
    recorded = TrainConfig.from_dict(ckpt["train_config"])
    cfg = cfg.with_decisions_of(recorded)
    changed = recorded.changes_beyond_plan(cfg)
    if changed:
        raise ValueError(f"--resume cannot change {'; '.join(changed)} (only --epochs, --max-steps, --eval, --data-dir)")
    return ckpt, cfg


def _last_checkpoint(run: RunFolder, device: torch.device | str) -> dict[str, Any]:
    if not run.last.is_file():
        raise FileNotFoundError(f"--resume: no {run.last} to resume from (a run stopped before it saved its "
                                "first epoch leaves none: run again without --resume to start over)")
    ckpt = load_checkpoint(run.last, map_location=device)
    check_resumable(ckpt, run.last)
    return ckpt


def same_data(cfg: TrainConfig, fingerprint: str, ckpt: dict[str, Any] | None) -> TrainConfig:
    """`cfg` recording `fingerprint`; ValueError when resuming a run whose folder of images has changed
    (its batches, epochs and scores would no longer mean what they did)."""
    recorded = TrainConfig.from_dict(ckpt["train_config"]).data_fingerprint if ckpt is not None else ""
    if recorded and fingerprint != recorded:
        raise ValueError(
            f"--resume: {cfg.data} has changed since this run started ({fingerprint} now, {recorded} then); "
            "a run trains on one set of images: start a new run (--overwrite, or another --out)"
        )
    return replace(cfg, data_fingerprint=fingerprint)


@dataclass
class Position:
    """Where training stands: what last.pt records besides the weights."""

    epoch: int = 0
    step: int = 0
    best_score: float = float("inf")
    best_step: int | None = None
    best_accuracy: float | None = None  # best.pt's label accuracy, when scored


class Looks:
    """When to look at the run (the average's BatchNorm statistics, a score, a sample grid), and how hard.

    A look costs about the same whatever the epoch's length, so a small set's
    short epochs would spend most of the run looking. Looks are spaced on the
    clock instead: the next is due once the time since the last one ended is at
    least (1 - LOOK_SHARE) / LOOK_SHARE times what that look took. The first and
    the last epoch are always looked at; best.pt is chosen among these looks only.
    Only the looks' own work counts (recalibration, scoring), not the writes every epoch makes.
    """

    def __init__(self, n_images: int, planned_steps: int, clock=time.perf_counter) -> None:
        self.clock, self.last_end, self.last_cost = clock, clock(), 0.0
        self.planned_steps = planned_steps
        low, high = RECALIBRATION_IMAGES
        self.recalibration_images = min(high, max(low, 4 * n_images))

    def due(self, step: int) -> bool:
        if step >= self.planned_steps:
            return True
        return (self.clock() - self.last_end) * LOOK_SHARE >= self.last_cost * (1 - LOOK_SHARE)

    def done(self, started: float) -> None:
        self.last_end = self.clock()
        self.last_cost = self.last_end - started


def start_run(run: RunFolder, ckpt: dict[str, Any] | None, overwrite: bool, procs: Processes) -> Position:
    """Clear the folder for a new run, or repair it for a resumed one (rank 0 writes; all ranks return)."""
    if ckpt is None:
        if procs.writes:
            run.check_new(overwrite)  # again, under the lock: another run may have finished here meanwhile
            run.clear()  # --overwrite's run, or the grids and metrics of one killed before its first last.pt
        return Position()
    position = Position(ckpt["epoch"], ckpt["step"], ckpt["best_score"], ckpt.get("best_step"),
                        ckpt.get("best_accuracy"))
    if procs.writes:
        run.keep_metrics_until(position.step)
        position.best_score, position.best_step, note = run.repair_best(ckpt)
        print(f"resuming from {run.last}: epoch {position.epoch}, step {position.step}")
        if note:
            print(note)
    return position


# --- data ------------------------------------------------------------------------


def load_training_data(cfg: TrainConfig, data_dir: Path, download: bool) -> LabelledImages:
    """The one place training reads its data (the whole training set): every data problem surfaces
    here, before the run folder is touched."""
    return load_data(cfg.data_source(data_dir, download), train=True)


def training_tensors(cfg: TrainConfig, data: LabelledImages,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, C, H, W] (a quarter of float's memory; scaled per batch) and labels, on `device`."""
    if cfg.train_limit:
        data = data.first(cfg.train_limit)
    if device.type == "cuda":
        check_fits(memory_needed(len(data), data.image_shape), device, f"{data.dataset}: {len(data):,} images")
    return data.images.to(device), data.labels.to(device)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed for one purpose, from the run's seed and that purpose (any size of seed)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "epoch", epoch)))


# --- models ----------------------------------------------------------------------


@dataclass
class Models:
    """G and D (plain modules), their training wrappers (DDP under torchrun), G's average, optimizers."""

    spec: ModelSpec
    G: torch.nn.Module
    D: torch.nn.Module
    G_train: torch.nn.Module
    D_train: torch.nn.Module
    G_ema: torch.nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    # The average's BatchNorm statistics from its last recalibration: what a checkpoint
    # saved between looks records (the live generator's would not fit the averaged weights).
    ema_statistics: dict[str, torch.Tensor] | None = None

    @classmethod
    def build(cls, cfg: TrainConfig, procs: Processes, ckpt: dict[str, Any] | None,
              data: LabelledImages) -> "Models":
        spec = cfg.model_spec(data)
        torch.manual_seed(derive_seed(cfg.seed, "weights"))
        G, D = build_models(spec, cfg.critic_width, classify=cfg.class_loss > 0)
        if cfg.fast_start:
            widen_label_tables(G)
        if cfg.batch_size < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules()):
            raise ValueError("batch size 1 cannot train BatchNorm layers (no batch statistics); use 2 or more")
        # The average is a plain copy: it is only run in eval mode, and on rank 0.
        G_ema = copy.deepcopy(G) if cfg.ema > 0 else None
        if ckpt is not None:
            load_weights(G, ckpt["generator"], "generator")
            load_weights(D, ckpt["discriminator"], "discriminator")
            if G_ema is not None:
                load_weights(G_ema, ckpt["generator_ema"], "generator average")
                statistics = {k: v.clone() for k, v in G_ema.named_buffers()}
        else:
            statistics = None
        G = distributed.sync_batchnorm(G, procs).to(procs.device)
        D = D.to(procs.device)
        G_ema = G_ema.to(procs.device).eval() if G_ema is not None else None
        fused = procs.device.type == "cuda"  # one kernel per optimizer step on GPU
        lr, betas = cfg.adam()
        opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, fused=fused)
        opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=fused)
        if ckpt is not None:
            try:
                opt_g.load_state_dict(ckpt["opt_g"])
                opt_d.load_state_dict(ckpt["opt_d"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"checkpoint's optimizer state does not match its models: {exc}") from None
        G.train()
        D.train()
        return cls(spec, G, D, distributed.data_parallel(G, procs), distributed.data_parallel(D, procs),
                   G_ema, opt_g, opt_d, statistics if G_ema is not None else None)

    @property
    def sampler(self) -> torch.nn.Module:
        """What export will ship: the average when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def state(self, cfg: TrainConfig, position: Position, score: float | None) -> dict[str, Any]:
        """A checkpoint: plain state dicts (never DDP's), so any number of processes can resume it."""
        return {
            "spec": self.spec.to_dict(),
            "train_config": cfg.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "generator_ema": self.ema_state(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "epoch": position.epoch,
            "step": position.step,
            "best_score": position.best_score,
            "best_step": position.best_step,
            "best_accuracy": position.best_accuracy,
            "score": score,
        }

    def ema_state(self) -> dict[str, torch.Tensor] | None:
        if self.G_ema is None:
            return None
        return {**self.G_ema.state_dict(), **(self.ema_statistics or {})}


# --- one epoch of steps ----------------------------------------------------------


def train_epoch(cfg: TrainConfig, models: Models, images: torch.Tensor, labels: torch.Tensor,
                position: Position, steps_per_epoch: int, procs: Processes, mine: slice,
                bar: EpochBar) -> dict[str, float]:
    """Train until the epoch ends (or max_steps); advance `position`; return the epoch's record.

    `mine` is this process's slice of each global batch (distributed.local_batch). Raises
    TrainingDiverged, in every process alike, once a look at the losses finds a non-finite one.
    """
    first = position.step - position.epoch * steps_per_epoch  # > 0 only when resuming mid-epoch
    last = min(steps_per_epoch, cfg.planned_steps(steps_per_epoch) - position.epoch * steps_per_epoch)
    order = epoch_permutation(cfg.seed, position.epoch, images.shape[0]).to(procs.device)
    draws = torch.Generator(device=procs.device)
    views = torch.Generator(device=procs.device) if cfg.augment else None
    sums = torch.zeros(2, device=procs.device)  # running G and D loss, read once per epoch
    first_bad = torch.full((), _NO_STEP, device=procs.device)  # the first step with a non-finite loss
    started = bar.clock()
    for i in range(first, last):
        idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size][mine]
        z, y_fake = step_draws(cfg, models.spec, position.step, draws, procs)
        if views is not None:
            views.manual_seed(derive_seed(cfg.seed, "augment", position.step))
        losses = train_step(cfg, models, to_model_range(images[idx]), labels[idx], z[mine], y_fake[mine],
                            position.step, views, mine)
        first_bad = torch.where(losses.isfinite().all(), first_bad, first_bad.clamp_max(position.step + 1))
        sums += losses
        position.step += 1
        bar.step_done()
        if (i + 1 - first) % DIVERGENCE_CHECK_EVERY == 0 or i + 1 == last:
            check_losses(first_bad, position, procs)
    if last == steps_per_epoch:
        position.epoch += 1
    done = max(last - first, 1)
    seconds = bar.clock() - started
    return {"epoch": position.epoch, "step": position.step, "loss_g": (sums[0] / done).item(),
            "loss_d": (sums[1] / done).item(), "images_per_s": done * cfg.batch_size / max(seconds, 1e-9),
            "seconds": seconds}


def check_losses(first_bad: torch.Tensor, position: Position, procs: Processes) -> None:
    """TrainingDiverged if any process saw a non-finite loss; nothing is saved until an epoch ends."""
    step = distributed.earliest(first_bad, procs)
    if step != _NO_STEP:
        raise TrainingDiverged(
            f"training diverged: non-finite loss at step {step} (epoch {position.epoch + 1}); "
            f"nothing of it was saved, last.pt is the last good checkpoint (try a lower --lr)"
        )


def step_draws(cfg: TrainConfig, spec: ModelSpec, step: int, draws: torch.Generator,
               procs: Processes) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise and fake labels for the global batch of `step`, the same in every process.

    Dropout draws from the global generator, seeded per step and per process
    (each process drops out its own slice).
    """
    torch.manual_seed(derive_seed(cfg.seed, "dropout", step, procs.rank))
    draws.manual_seed(derive_seed(cfg.seed, "step", step))
    z = torch.randn(cfg.batch_size, spec.nz, generator=draws, device=procs.device)
    if cfg.diversity > 0:  # pairs with the same label, for the mode-seeking penalty
        half = torch.randint(0, spec.num_classes, ((cfg.batch_size + 1) // 2,), generator=draws, device=procs.device)
        y_fake = half.repeat_interleave(2)[: cfg.batch_size]
    else:
        y_fake = torch.randint(0, spec.num_classes, (cfg.batch_size,), generator=draws, device=procs.device)
    return z, y_fake


def train_step(cfg: TrainConfig, models: Models, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor,
               y_fake: torch.Tensor, step: int = 0, views: torch.Generator | None = None,
               mine: slice = slice(None)) -> torch.Tensor:
    """One G step, then one D step on the same fakes (the seed's order); returns (loss_g, loss_d).

    With `views` (seeded for this step), the critic sees real and fake images augmented
    (augment.py), the fakes alike in both steps; the generator's own output is never changed.
    """
    fake = models.G_train(z, y_fake)
    seen_real, seen_fake = x, fake
    if views is not None:
        colour = x.shape[1] == 3
        seen_fake = augment(fake, views, colour, cfg.batch_size, mine)
        seen_real = augment(x, views, colour, cfg.batch_size, mine)
    # D's plain module here: its gradients from G's loss are discarded before D's
    # step, so DDP has nothing to average for it.
    logit, classes = models.D(seen_fake, y_fake)
    loss_g = generator_loss(cfg.loss, logit)
    if classes is not None:  # the class loss (config.CLASS_LOSS): fakes the critic names right
        loss_g = loss_g + cfg.class_loss * classification_loss(classes, y_fake)
    if cfg.diversity > 0:
        loss_g = loss_g + cfg.diversity * mode_seeking_penalty(fake, z)
    models.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    models.opt_g.step()
    if models.G_ema is not None:
        update_ema(models.G_ema, models.G, ema_decay(cfg.ema, step))

    # Real and fake in one D call: DDP expects one forward per backward.
    logits, classes = models.D_train(torch.cat([seen_real, seen_fake.detach()]), torch.cat([y, y_fake]))
    loss_d = discriminator_loss(cfg.loss, logits[: len(x)], logits[len(x) :])
    if classes is not None:  # the critic learns classes from real images only
        loss_d = loss_d + cfg.class_loss * classification_loss(classes[: len(x)], y)
    models.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    models.opt_d.step()
    return torch.stack([loss_g.detach(), loss_d.detach()])


def ema_decay(decay: float, step: int) -> float:
    """The average's decay at `step` (0-based), warmed up: min(decay, (1 + step) / (10 + step)).

    A fixed 0.999 from the first step leaves 0.999**t of the random initialisation in
    the average after t steps (42% after 864): short runs would ship noise. The warm-up
    averages over about the last tenth of the run so far until it reaches `decay`.
    """
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    # Multi-tensor (foreach) ops: fewer kernel launches on a GPU than one per tensor, every step.
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))


def check_weights(models: Models, position: Position, procs: Processes) -> None:
    """A last update can make the weights non-finite with finite losses: never save those."""
    weights = [p.detach().sum() for p in [*models.G.parameters(), *models.D.parameters()]]
    if not distributed.all_finite(torch.stack(weights), procs):
        raise TrainingDiverged(
            f"training diverged: non-finite weights after step {position.step}; "
            "nothing of it was saved, last.pt is the last good checkpoint (try a lower --lr)"
        )


# --- end of an epoch: score, then write (rank 0) ---------------------------------


def make_evaluator(cfg: TrainConfig, data_dir: Path, download: bool, device: torch.device,
                   data: LabelledImages):
    """The evaluator of the run's data; `data` is its training set, already read."""
    if not cfg.evaluate:
        return None
    from .evaluation import Evaluator  # trains the classifier on first use

    return Evaluator.for_data(cfg.data_source(data_dir, download), device=device, loaded=data)


def end_epoch(cfg: TrainConfig, models: Models, run: RunFolder, position: Position, epoch_number: int,
              record: dict[str, float], evaluator, looks: Looks) -> None:
    """Look at the run when a look is due (Looks), then write the epoch, in the order rundir.py documents."""
    score, metrics, looked = None, {}, looks.due(position.step)
    if looked:
        started = looks.clock()
        metrics = look(cfg, models, evaluator, looks)
        looks.done(started)
        score = metrics.get("fid")
    is_best = score is not None and score < position.best_score
    if is_best:
        position.best_score, position.best_step = score, position.step
        position.best_accuracy = metrics.get("accuracy")
    record = {**record, **metrics}
    # The order rundir.py documents: last.pt last, so it never names a state not on disk.
    if looked:
        run.write_sample_grid(epoch_number, sample_grid(models, cfg))
    run.append_metrics(record)
    snapshot = models.state(cfg, position, score)
    if is_best:
        save_checkpoint(run.best, snapshot)
    save_checkpoint(run.last, snapshot)
    if looked:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if isinstance(v, float))
        print(f"epoch {epoch_number} step {position.step}/{looks.planned_steps}: {shown}"
              f"{'  (best)' if is_best else ''}", flush=True)


def look(cfg: TrainConfig, models: Models, evaluator, looks: Looks) -> dict[str, float]:
    """Give the average BatchNorm statistics of its own, and score what export would ship."""
    device = next(models.G.parameters()).device
    if models.G_ema is not None:
        recalibrate_batchnorm(models.G_ema, models.spec, device, seed=derive_seed(cfg.seed, "recalibrate"),
                              batches=math.ceil(looks.recalibration_images / 250))
        models.ema_statistics = {k: v.clone() for k, v in models.G_ema.named_buffers()}
    if evaluator is None:
        return {}
    # Score what export will ship: eval mode, BatchNorm on its running statistics.
    metrics = evaluator.quick(checkpoint_sampler(models.sampler, device), models.spec.nz, seed=cfg.seed)
    models.G.train()
    return metrics


def sample_grid(models: Models, cfg: TrainConfig) -> bytes:
    """One row per label, the same noise every epoch."""
    generator, spec = models.sampler, models.spec
    device = next(generator.parameters()).device
    fixed = torch.Generator().manual_seed(derive_seed(cfg.seed, "samples"))
    labels = torch.arange(spec.num_classes).repeat_interleave(SAMPLES_PER_LABEL)
    noise = torch.randn(len(labels), spec.nz, generator=fixed)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = generator(noise.to(device), labels.to(device)).cpu().numpy()
    generator.train(was_training)
    return encode_png(make_grid(to_uint8(images, (-1.0, 1.0)), cols=SAMPLES_PER_LABEL))


@torch.no_grad()
def recalibrate_batchnorm(generator: torch.nn.Module, spec: ModelSpec, device: torch.device, seed: int,
                          batches: int = 40, batch_size: int = 250) -> None:
    """Give a weight-averaged generator BatchNorm statistics of its own.

    The average's buffers are copied from the live generator, whose running
    statistics describe other weights; eval mode (and so the exported file)
    would normalise with the wrong numbers. An exact average over fresh
    batches fixes that. Its noise has its own stream: resuming must not drift.
    """
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    rng = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    generator.train()
    for _ in range(batches):
        noise = torch.randn(batch_size, spec.nz, generator=rng).to(device)
        labels = torch.randint(0, spec.num_classes, (batch_size,), generator=rng).to(device)
        generator(noise, labels)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()
