"""The training loop, top to bottom: data on the device, G step, D step, score, save.

Run directory:
    last.pt               after every epoch (and when --max-steps stops mid-epoch)
    best.pt               the epoch with the best quick score (lowest FID)
    samples/epoch_NNN.png one row per label, the same noise every epoch
    metrics.jsonl         one JSON line per epoch
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cgan_runtime.errors import EXIT_USAGE, UserError
from cgan_runtime.files import atomic_write_bytes
from cgan_runtime.images import encode_png, make_grid, to_uint8

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import check_fits, load_data, memory_needed, to_model_range
from .losses import discriminator_loss, generator_loss, mode_seeking_penalty
from .models import build_models
from .samplers import checkpoint_sampler

SAMPLES_PER_LABEL = 10


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device", EXIT_USAGE)
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device '{name}' (choose from auto, cpu, cuda)", EXIT_USAGE)
    return torch.device(name)


def epoch_permutation(cfg: TrainConfig, epoch: int, n: int) -> torch.Tensor:
    # Derived from (seed, epoch) rather than drawn from the global RNG, so a run
    # resumed mid-epoch sees the same batch order as one that never stopped.
    return torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm(generator: torch.nn.Module, spec, device: torch.device, seed: int,
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


def write_samples(path: Path, generator: torch.nn.Module, noise: torch.Tensor, labels: torch.Tensor) -> None:
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = generator(noise, labels).cpu().numpy()
    generator.train(was_training)
    grid = make_grid(to_uint8(images, (-1.0, 1.0)), cols=SAMPLES_PER_LABEL)
    atomic_write_bytes(path, encode_png(grid))


def train(cfg: TrainConfig, data_dir: Path, out_dir: Path, device: str = "auto",
          download: bool = False, resume: bool = False) -> Path:
    """Train a CGAN and return the path of best.pt."""
    dev = resolve_device(device)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    ckpt = None
    if resume:
        if not last_path.is_file():
            raise UserError(f"--resume: no {last_path} to resume from", EXIT_USAGE)
        ckpt = load_checkpoint(last_path, map_location=dev)
        # The run's own config wins, except how long to train.
        cfg = TrainConfig.from_dict({**ckpt["train_config"], "epochs": cfg.epochs, "max_steps": cfg.max_steps})

    source = cfg.data_source(data_dir, download)
    data = load_data(source, train=True)  # every data problem surfaces here, before OUT exists
    evaluator = None
    if cfg.evaluate:
        from .evaluation import Evaluator  # trains the classifier on first use

        # Built before seeding: training the classifier (first run only) must
        # not shift the random stream the GAN sees, or resuming would diverge.
        evaluator = Evaluator.for_data(source, device=dev, loaded=data)

    torch.manual_seed(cfg.seed)
    if cfg.train_limit:
        data = data.subset(slice(None, cfg.train_limit))
    # Held as uint8 on the device (a quarter of float's memory), scaled per batch.
    if dev.type == "cuda":
        check_fits(memory_needed(len(data), data.image_shape), dev, f"{source.name}: {len(data):,} images")
    real_images = data.images.to(dev)
    real_labels = data.labels.to(dev)
    n = real_images.shape[0]
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch == 0:
        raise UserError(f"batch size {cfg.batch_size} is larger than the {n} training images", EXIT_USAGE)

    out_dir.mkdir(parents=True, exist_ok=True)  # only once the data is known to be there
    (out_dir / "samples").mkdir(exist_ok=True)
    spec = cfg.model_spec(data)
    G, D = build_models(spec)
    G, D = G.to(dev), D.to(dev)
    G_ema = copy.deepcopy(G).eval() if cfg.ema > 0 else None
    fused = dev.type == "cuda"  # one kernel per optimizer step on GPU
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)

    epoch, step, best_score = 0, 0, float("inf")
    if ckpt is not None:
        G.load_state_dict(ckpt["generator"])
        D.load_state_dict(ckpt["discriminator"])
        if G_ema is not None:
            G_ema.load_state_dict(ckpt["generator_ema"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        epoch, step, best_score = ckpt["epoch"], ckpt["step"], ckpt["best_score"]
        set_rng_state(ckpt["rng"])
        print(f"resuming from {last_path}: epoch {epoch}, step {step}")

    fixed = torch.Generator().manual_seed(cfg.seed + 1)
    sample_labels = torch.arange(spec.num_classes).repeat_interleave(SAMPLES_PER_LABEL).to(dev)
    sample_noise = torch.randn(len(sample_labels), spec.nz, generator=fixed).to(dev)
    sampler = G_ema if G_ema is not None else G

    def state(score: float | None) -> dict[str, Any]:
        return {
            "spec": spec.to_dict(),
            "train_config": cfg.to_dict(),
            "generator": G.state_dict(),
            "discriminator": D.state_dict(),
            "generator_ema": G_ema.state_dict() if G_ema is not None else None,
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "epoch": epoch,
            "step": step,
            "best_score": best_score,
            "score": score,
            "rng": rng_state(),
        }

    G.train()
    D.train()
    max_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    while epoch < cfg.epochs and step < max_steps:
        shown_epoch = epoch + 1
        first = step - epoch * steps_per_epoch  # > 0 only when resuming mid-epoch
        last = min(steps_per_epoch, max_steps - epoch * steps_per_epoch)
        order = epoch_permutation(cfg, epoch, n).to(dev)
        sums = torch.zeros(2, device=dev)  # running G and D loss, read once per epoch
        t0 = time.perf_counter()
        with Progress(TextColumn(f"epoch {shown_epoch}/{cfg.epochs}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("train", total=last, completed=first, rate="")
            for i in range(first, last):
                idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                x, y = to_model_range(real_images[idx]), real_labels[idx]
                z = torch.randn(cfg.batch_size, spec.nz, device=dev)
                if cfg.diversity > 0:  # two halves with the same labels, for the mode-seeking pairs
                    y_fake = torch.randint(0, spec.num_classes, (cfg.batch_size // 2,), device=dev).repeat(2)
                    y_fake = torch.cat([y_fake, y_fake[: cfg.batch_size % 2]])
                else:
                    y_fake = torch.randint(0, spec.num_classes, (cfg.batch_size,), device=dev)

                # G step first, then D on the same fakes: the seed's order, one G forward per step.
                fake = G(z, y_fake)
                loss_g = generator_loss(cfg.loss, D(fake, y_fake))
                if cfg.diversity > 0:
                    loss_g = loss_g + cfg.diversity * mode_seeking_penalty(fake, z)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                if G_ema is not None:
                    update_ema(G_ema, G, cfg.ema)

                loss_d = discriminator_loss(cfg.loss, D(x, y), D(fake.detach(), y_fake))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

                sums += torch.stack([loss_g.detach(), loss_d.detach()])
                step += 1
                if (i + 1 - first) % 50 == 0:
                    rate = (i + 1 - first) * cfg.batch_size / (time.perf_counter() - t0)
                    bar.update(task, completed=i + 1, rate=f"{rate:,.0f} img/s")
        seconds = time.perf_counter() - t0
        done = last - first
        if last == steps_per_epoch:
            epoch += 1

        if G_ema is not None:
            recalibrate_batchnorm(G_ema, spec, dev, seed=cfg.seed + 2)
        score, metrics = None, {}
        if evaluator is not None:
            # Score what export will ship: eval mode, BatchNorm on its running statistics.
            metrics = evaluator.quick(checkpoint_sampler(sampler, dev), spec.nz, seed=cfg.seed)
            score = metrics["fid"]
            G.train()
        is_best = score is None or score < best_score
        if is_best and score is not None:
            best_score = score
        record = {
            "epoch": epoch, "step": step,
            "loss_g": (sums[0] / max(done, 1)).item(), "loss_d": (sums[1] / max(done, 1)).item(),
            "images_per_s": done * cfg.batch_size / seconds, "seconds": seconds, **metrics,
        }
        snapshot = state(score)
        save_checkpoint(last_path, snapshot)
        if is_best:
            save_checkpoint(best_path, snapshot)
        write_samples(out_dir / "samples" / f"epoch_{shown_epoch:03d}.png", sampler, sample_noise, sample_labels)
        with open(out_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if isinstance(v, float))
        print(f"epoch {shown_epoch} step {step}: {shown}{'  (best)' if is_best else ''}", flush=True)
    return best_path
