"""`cgan-train` and `cgan-eval`: parse, build the config, call the library.

torch is imported inside the commands, so a runtime-only install answers
`cgan-train` with one line naming the missing extra instead of a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cgan_runtime.errors import EXIT_USAGE, UserError, run_app
from cgan_runtime.files import write_output

TRAIN_EXTRA_HINT = "needs the train extra: pip install 'cgan-edge[train,cpu]'"

train_app = typer.Typer(add_completion=False, help="Train a conditional GAN on MNIST.")
eval_app = typer.Typer(add_completion=False, help="Measure a generator (checkpoint or ONNX) against MNIST.")

DATA_DIR_HELP = "Folder holding MNIST in torchvision's layout (DIR/MNIST/raw/...)."


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        raise UserError(TRAIN_EXTRA_HINT) from None


@train_app.command()
def train(
    data_dir: Path = typer.Option(Path("data"), help=DATA_DIR_HELP),
    out: Path = typer.Option(Path("runs/default"), "--out", "-o", help="Run folder: checkpoints, samples, metrics."),
    arch: Optional[str] = typer.Option(None, help="Recipe: edge (default, the shipped model's) or mlp (the seed's)."),
    loss: Optional[str] = typer.Option(None, help="bce or hinge [default: the arch's recipe]."),
    epochs: Optional[int] = typer.Option(None, help="Epochs to train in total [default: the arch's recipe]."),
    batch_size: Optional[int] = typer.Option(None, help="[default: the arch's recipe]"),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate for G and D [default: the arch's recipe]."),
    ema: Optional[float] = typer.Option(None, help="Decay of G's weight average, 0 = off [default: the arch's recipe]."),
    nz: Optional[int] = typer.Option(None, help="Noise dimension [default: the arch's recipe]."),
    diversity: Optional[float] = typer.Option(
        None, help="Weight of the mode-seeking penalty (MSGAN), 0 = off [default: the arch's recipe]."
    ),
    max_steps: Optional[int] = typer.Option(None, help="Stop after this many steps in total (smoke runs)."),
    train_limit: Optional[int] = typer.Option(None, help="Train on the first N images only (smoke runs)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help="Seed for weights, noise and batch order."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download MNIST if missing."),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="Score each epoch to pick best.pt."),
) -> None:
    """Train a CGAN; writes last.pt, best.pt, samples/ and metrics.jsonl into OUT."""
    _require_torch()
    from .config import DEFAULT_ARCH, TrainConfig
    from .trainer import train as run_training

    try:
        cfg = TrainConfig.for_arch(
            arch or DEFAULT_ARCH, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr, ema=ema, nz=nz,
            diversity=diversity, max_steps=max_steps, train_limit=train_limit, seed=seed, evaluate=evaluate,
        )
    except ValueError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    best = run_training(cfg, data_dir, out, device=device, download=download, resume=resume)
    print(f"best checkpoint: {best}")


@eval_app.command()
def evaluate(
    model: Path = typer.Argument(..., help="A checkpoint (.pt) or an exported generator (.onnx)."),
    data_dir: Path = typer.Option(Path("data"), help=DATA_DIR_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    per_label: int = typer.Option(1000, min=10, help="Generated samples per label."),
    parzen: bool = typer.Option(True, "--parzen/--no-parzen", help="Include the Parzen-window log-likelihood."),
    device: str = typer.Option("auto", help="auto, cpu or cuda (for checkpoints and the classifier)."),
    seed: int = typer.Option(0, help="Seed for the evaluation noise."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download MNIST if missing."),
) -> None:
    """Label accuracy, FID and within-label FID in a classifier's feature space, Parzen log-likelihood."""
    _require_torch()
    from .evaluation import Evaluator, format_table
    from .samplers import load_sampler
    from .trainer import resolve_device

    dev = resolve_device(device)
    sample, nz = load_sampler(model, dev)
    report = Evaluator(data_dir, device=dev, download=download).full(
        sample, nz, seed=seed, per_label=per_label, parzen=parzen
    )
    print(format_table(report, title=str(model)))
    if json_out is not None:
        payload = {"model": str(model), **report.to_dict()}
        write_output(json_out, (json.dumps(payload, indent=2) + "\n").encode())


def train_main() -> None:
    run_app(train_app, "cgan-train")


def eval_main() -> None:
    run_app(eval_app, "cgan-eval")
