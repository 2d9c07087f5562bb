"""`cgan-train` and `cgan-eval`: parse, build the config, call the library.

torch is imported inside the commands, so a runtime-only install answers
`cgan-train` with one line naming the missing extra instead of a traceback.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer

from cgan_runtime.errors import EXIT_USAGE, UserError, run_app
from cgan_runtime.files import check_writable, write_output

TRAIN_EXTRA_HINT = "needs the train extra: pip install 'cgan-edge[train,cpu]'"

train_app = typer.Typer(add_completion=False, help="Train a conditional GAN on MNIST.")
eval_app = typer.Typer(add_completion=False, help="Measure a generator (checkpoint or ONNX) against MNIST.")

DATA_DIR_HELP = "Folder holding (or receiving) the named data sets in torchvision's layout (DIR/MNIST/raw/...)."
DATA_HELP = ("mnist, fashion-mnist, kmnist, cifar10, or a folder of class folders "
             "(DIR/CLASS/*.png, jpg, ...; class names are the folder names).")
IMAGE_SIZE_HELP = "Square side to resize the images to (Lanczos, centre-cropped to a square)."
CHANNELS_HELP = "1 (grey) or 3 (RGB)."
SKIP_HELP = "Skip unreadable images in a folder (and say how many) instead of stopping."
MAX_THREADS = 1024
PER_LABEL = 1000


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
    data: Optional[str] = typer.Option(None, help=DATA_HELP + " Default: mnist."),
    image_size: Optional[int] = typer.Option(None, min=1, help=IMAGE_SIZE_HELP + " Default: the images' own."),
    channels: Optional[int] = typer.Option(None, min=1, max=3, help=CHANNELS_HELP + " Default: the images' own."),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help=SKIP_HELP),
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
            data=data, image_size=image_size, channels=channels, skip_bad_images=skip_bad_images,
        )
    except ValueError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    from .classifier import ClassifierError
    from .data import DataError

    try:
        best = run_training(cfg, data_dir, out, device=device, download=download, resume=resume)
    except (DataError, FileNotFoundError) as exc:  # bad or absent data: found before OUT is written
        raise UserError(str(exc), EXIT_USAGE) from None
    except (MemoryError, ClassifierError, OSError) as exc:
        raise UserError(str(exc)) from None
    print(f"best checkpoint: {best}")


@eval_app.command()
def evaluate(
    model: Path = typer.Argument(..., help="A checkpoint (.pt) or an exported generator (.onnx)."),
    data: Optional[str] = typer.Option(None, help=DATA_HELP + " Default: the data set the model was trained on."),
    data_dir: Path = typer.Option(Path("data"), help=DATA_DIR_HELP),
    image_size: Optional[int] = typer.Option(None, min=1, help=IMAGE_SIZE_HELP + " Default: the model's."),
    channels: Optional[int] = typer.Option(None, min=1, max=3, help=CHANNELS_HELP + " Default: the model's."),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help=SKIP_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
    per_label: Optional[int] = typer.Option(
        None, min=2, help=f"Generated samples per label. Default: {PER_LABEL:,}, or as many as the data can match."
    ),
    parzen: bool = typer.Option(
        True, "--parzen/--no-parzen", help="Include the Parzen-window log-likelihood (grey 28x28 sets only)."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda (for checkpoints and the classifier)."),
    seed: int = typer.Option(0, help="Seed for the evaluation noise."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download a named data set if missing."),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads. Default: the cores this process may use."),
) -> None:
    """Label accuracy, FID and within-label FID in a classifier's feature space, Parzen log-likelihood."""
    if json_out is not None:
        check_writable(json_out)
    threads = _use_threads(threads)
    _require_torch()
    from .evaluation import format_table
    from .trainer import resolve_device

    dev = resolve_device(device)
    with _progress() as progress:
        sample, spec = _load_model(model, dev, threads)
        evaluator = _evaluator_for(spec, data, data_dir, image_size, channels, download, skip_bad_images, dev,
                                   progress)
        if per_label is None:
            per_label = min(PER_LABEL, evaluator.max_per_label)
        try:
            evaluator.check_per_label(per_label)
        except ValueError as exc:
            raise UserError(f"--per-label {per_label}: {exc}", EXIT_USAGE) from None
        report = evaluator.full(sample, spec.nz, seed=seed, per_label=per_label, parzen=parzen, progress=progress)
    print(format_table(report, title=str(model)))
    if json_out is not None:
        payload = {"model": str(model), **report.to_dict()}
        write_output(json_out, (json.dumps(payload, indent=2) + "\n").encode())


def _use_threads(threads: int | None) -> int:
    """Set torch's CPU threads (and, through the sampler, onnxruntime's): by default the cores we may use.

    Idle OpenMP threads otherwise spin between torch's and onnxruntime's turns
    and steal the cores the other needs (3x slower on a busy 2-core machine);
    a passive wait policy must be set before torch loads OpenMP.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = threads or usable
    if threads > MAX_THREADS:
        raise UserError(f"--threads {threads} is more than {MAX_THREADS}", EXIT_USAGE)
    try:
        import torch
    except ImportError:
        return threads
    torch.set_num_threads(threads)
    return threads


def _load_model(path: Path, device, threads: int):
    from .samplers import load_sampler

    try:
        return load_sampler(path, device, threads)
    except (ValueError, FileNotFoundError, UserError) as exc:  # a missing or broken file is bad input
        raise UserError(str(exc), EXIT_USAGE) from None


def _evaluator_for(spec, data, data_dir, image_size, channels, download, skip_bad, device, progress):
    """The Evaluator of the data the model is compared with, shaped like the model's images."""
    from .classifier import ClassifierError, classifier_for
    from .data import SOURCES, DataSource, evaluation_splits
    from .evaluation import Evaluator

    if data is None:
        if spec.dataset not in SOURCES:
            raise UserError(f"the model was trained on the folder '{spec.dataset}': pass --data PATH", EXIT_USAGE)
        data = spec.dataset
    c, h, w = spec.image_shape
    try:
        source = DataSource(data, data_dir, image_size=image_size or (h if h == w else None),
                            channels=channels or c, download=download, skip_bad_images=skip_bad)
        train, test, note = evaluation_splits(source)
        model_has = (spec.image_shape, tuple(spec.class_names))
        data_has = (train.image_shape, tuple(train.class_names))
        if model_has != data_has:  # found before the classifier is trained
            raise UserError(f"the model makes {_describe(*model_has)} but {source.name} has "
                            f"{_describe(*data_has)}", EXIT_USAGE)
        classifier = classifier_for(train, test, device=device, progress=progress)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    except (OSError, MemoryError, ClassifierError) as exc:
        raise UserError(str(exc)) from None
    return Evaluator(train, test, classifier, device, note)


def _describe(shape: tuple[int, ...], names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{'x'.join(map(str, shape))} images of {len(names)} classes ({shown})"


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress display on stderr, redrawn several times a second; yields the library's callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True, refresh_per_second=4) as bar:

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield update


def train_main() -> None:
    run_app(train_app, "cgan-train")


def eval_main() -> None:
    run_app(eval_app, "cgan-eval")
