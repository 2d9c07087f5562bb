"""`cgan-train` and `cgan-eval`: parse, build the config, call the library.

torch is imported inside the commands, so a runtime-only install answers
`cgan-train` with one line naming the missing extra instead of a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer

from cgan_runtime.commands.errors import (
    EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, Terminated, UserError, describe_os_error, run_app,
)
from cgan_runtime.files import check_writable, write_output
from cgan_runtime.inputs import SEED_LIMIT as NOISE_SEED_LIMIT

from .config import (CLASS_LOSS, DEFAULT_DATA_DIR, DEFAULT_RECIPE, FAST_BETAS, FAST_LR, FAST_START_BELOW, RECIPES,
                     SMALL_SET_BELOW, TRAINING_SEED_LIMIT, TrainConfig)

TRAIN_EXTRA_HINT = "needs the train extra: pip install '.[train,cpu]' in the cgan-edge clone"

train_app = typer.Typer(add_completion=False, help="Train a conditional GAN.")
eval_app = typer.Typer(add_completion=False, help="Measure a generator (checkpoint or ONNX) against its data.")


class BareArguments(typer.core.TyperCommand):
    """A usage line that names a required argument as the other commands' help does, `cgan-eval [OPTIONS] MODEL`:
    recent typer releases (0.28) write it `{MODEL}`."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece for piece in pieces]


DATA_DIR_HELP = "Folder holding (or receiving) the named data sets in torchvision's layout (DIR/MNIST/raw/...)."
DATA_HELP = ("mnist, fashion-mnist, kmnist, cifar10, or a folder of class folders "
             "(DIR/CLASS/*.png, jpg, ...; class names are the folder names).")
IMAGE_SIZE_HELP = "Square side to resize the images to (Lanczos, centre-cropped to a square)."
CHANNELS_HELP = "1 (grey) or 3 (RGB)."
SKIP_HELP = "Skip unreadable images in a folder (and say how many) instead of stopping."
PER_LABEL = 1000
# TrainConfig's fields that cgan-train's flags set one to one (the recipe is passed on its own).
CONFIG_FIELDS = {field.name for field in fields(TrainConfig)} - {"recipe"}


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        raise UserError(TRAIN_EXTRA_HINT) from None


def _named_value(name: str, value: object) -> str:
    """e.g. "lr 0.0002", "epochs 75": one value in the help text (floats short)."""
    if value is None:
        return f"{name} the network's own"
    return f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"


def _recipe_values(field: str) -> str:
    """e.g. "the recipe's; mlp 30, edge 75, conv 28", or "64, in every recipe": the default of `field`, for the help text."""
    values = {recipe[field] for recipe in RECIPES.values()}
    if values == {None}:
        return "the network's own"
    if len(values) == 1:
        return _named_value("", values.pop()).strip() + ", in every recipe"
    return "the recipe's; " + ", ".join(_named_value(name, recipe[field]) for name, recipe in RECIPES.items())


TRAIN_HELP = (
    "Train a CGAN; writes last.pt, best.pt (when epochs are scored), samples/ and metrics.jsonl into OUT.\n\n"
    "Recipes (--recipe; a flag overrides one field):\n\n"
    + "\n\n".join(
        f"{name}{' (default)' if name == DEFAULT_RECIPE else ''}: "
        + ", ".join(_named_value(k, v) for k, v in recipe.items())
        for name, recipe in RECIPES.items()
    )
    + "\n\nUnder torchrun (torchrun --nproc-per-node N $(which cgan-train) ...) the processes train one "
    "model together; --batch-size stays the global batch."
)


@contextmanager
def library_errors(prefix: str = "") -> Iterator[None]:
    """Turn the library's ordinary exceptions into one-line UserErrors: 2 for bad input, 1 otherwise."""
    try:
        yield
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise UserError(prefix + _one_line(exc), EXIT_USAGE) from None
    except (OSError, RuntimeError, MemoryError) as exc:
        raise UserError(prefix + _one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return describe_os_error(exc)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@train_app.command(help=TRAIN_HELP)
def train(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(
        None, metavar="PATH", help=DATA_DIR_HELP, show_default=f"{DEFAULT_DATA_DIR}, or with --resume the run's own"
    ),
    out: Path = typer.Option(Path("runs/default"), "--out", "-o", metavar="PATH", help="Run folder: checkpoints, samples, metrics."),
    recipe: Optional[str] = typer.Option(
        None, metavar="|".join(RECIPES), help="Recipe, listed above.", show_default=DEFAULT_RECIPE
    ),
    loss: Optional[str] = typer.Option(None, metavar="bce|hinge", help="The GAN loss.", show_default=_recipe_values("loss")),
    epochs: Optional[int] = typer.Option(
        None, metavar="N", show_default=_recipe_values("epochs"),
        help="Epochs to train in total, replacing the recipe's length (its epochs or min_steps steps, whichever is longer).",
    ),
    batch_size: Optional[int] = typer.Option(
        None, metavar="N", help="Images per step, over all processes.", show_default=_recipe_values("batch_size")
    ),
    lr: Optional[float] = typer.Option(
        None, metavar="RATE", help="Adam learning rate for G and D.", show_default=_recipe_values("lr")
    ),
    ema: Optional[float] = typer.Option(
        None, metavar="DECAY", help="Decay of G's weight average, 0 = off.", show_default=_recipe_values("ema")
    ),
    nz: Optional[int] = typer.Option(None, metavar="N", help="Noise dimension.", show_default=_recipe_values("nz")),
    diversity: Optional[float] = typer.Option(
        None, metavar="WEIGHT", help="Weight of the mode-seeking penalty (MSGAN), 0 = off.",
        show_default=_recipe_values("diversity"),
    ),
    critic_width: Optional[int] = typer.Option(
        None, metavar="N", help="Discriminator width: the MLP's hidden units, the conv critic's first channels "
        "(training only).", show_default=_recipe_values("critic_width"),
    ),
    max_steps: Optional[int] = typer.Option(None, metavar="N", help="Stop after this many steps in total (smoke runs)."),
    train_limit: Optional[int] = typer.Option(None, metavar="N", help="Train on N images only, the first of each class in turn (smoke runs)."),
    data: Optional[str] = typer.Option(None, metavar="NAME|PATH", help=DATA_HELP, show_default="mnist"),
    image_size: Optional[int] = typer.Option(
        None, metavar="N", min=1, help=IMAGE_SIZE_HELP, show_default="the images' own"
    ),
    channels: Optional[int] = typer.Option(None, metavar="1|3", help=CHANNELS_HELP, show_default="the images' own"),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help=SKIP_HELP),
    device: str = typer.Option("auto", metavar="auto|cpu|cuda", help="Where to train."),
    threads: Optional[int] = typer.Option(
        None, metavar="N", min=1, max=1024, help="CPU threads per process.",
        show_default="$OMP_NUM_THREADS, else the idle cores shared by the processes",
    ),
    seed: Optional[int] = typer.Option(
        None, metavar="N", min=0, max=TRAINING_SEED_LIMIT - 1, help="Seed for weights, noise and batch order.",
        show_default="0",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in OUT; only --epochs, --max-steps, --eval and --data-dir may change."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run already in OUT."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download a named data set if missing."),
    evaluate: Optional[bool] = typer.Option(
        None, "--eval/--no-eval",
        help="Score the run now and then (about a tenth of its time) to pick best.pt; without it, no best.pt.",
        show_default="eval",
    ),
    augment: Optional[bool] = typer.Option(
        None, "--augment/--no-augment",
        help="Show the critic shifted, cut-out (and recoloured) images, real and generated alike (DiffAugment).",
        show_default=f"augment for the conv recipe below {SMALL_SET_BELOW:,} training images",
    ),
    class_loss: Optional[float] = typer.Option(
        None, metavar="W", min=0.0,
        help="Weight of the critic's class loss: the critic also names each real image's class, and the "
             "generator is rewarded for images it names right (AC-GAN); 0 turns it off.",
        show_default=f"{CLASS_LOSS:g} for the conv recipe below {SMALL_SET_BELOW:,} training images, else 0",
    ),
    fast_start: Optional[bool] = typer.Option(
        None, "--fast-start/--no-fast-start",
        help=f"Train {FAST_LR:g}x the learning rate with Adam betas {FAST_BETAS}, the generator's label tables "
             "starting wide: a short run's classes differ sooner.",
        show_default=f"fast for the conv recipe below {FAST_START_BELOW:,} steps",
    ),
) -> None:
    if resume and overwrite:  # continue the run, or replace it: not both
        raise UserError("--resume continues the run in OUT and --overwrite replaces it: choose one", EXIT_USAGE)
    _require_torch()
    import torch

    from .data import canonical_data
    from .distributed import default_threads, launched_by_torchrun
    from .trainer import run_config, train as run_training

    rank = int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0
    torch.set_num_threads(threads or default_threads())
    # The flags named after TrainConfig's fields, as given (None: not given). A new run takes the
    # recipe's or TrainConfig's value for the others, a resume its own (the sets where the run read them).
    given = {name: value for name, value in ctx.params.items() if name in CONFIG_FIELDS}
    given.update(data=canonical_data(data) if data is not None else None, skip_bad_images=skip_bad_images or None,
                 data_dir=str(data_dir) if data_dir else None)
    try:
        with library_errors(f"rank {rank}: " if rank else ""):
            if resume:
                cfg = run_config(out).with_overrides(recipe=recipe, **given)
            else:
                cfg = TrainConfig.for_recipe(recipe or DEFAULT_RECIPE, **given)
            run_training(cfg, Path(cfg.data_dir), out, device=device, download=download, resume=resume,
                                    overwrite=overwrite)
    except Terminated:
        # Under torchrun, SIGTERM is how the others are stopped after one process
        # failed: that one's line is the one to read.
        if launched_by_torchrun():
            raise SystemExit(EXIT_TERMINATED) from None
        raise
    except (UserError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            exc = UserError("interrupted", EXIT_INTERRUPTED)
        if launched_by_torchrun() and _said_by_another_process(exc, rank):
            raise SystemExit(exc.exit_code) from None
        raise exc from None


@eval_app.command(cls=BareArguments)
def evaluate(
    model: Path = typer.Argument(..., metavar="MODEL", help="A checkpoint (.pt) or an exported generator (.onnx)."),
    data: Optional[str] = typer.Option(
        None, metavar="NAME|PATH", help=DATA_HELP, show_default="the data set the model was trained on"
    ),
    data_dir: Path = typer.Option(Path(DEFAULT_DATA_DIR), metavar="PATH", help=DATA_DIR_HELP),
    image_size: Optional[int] = typer.Option(None, metavar="N", min=1, help=IMAGE_SIZE_HELP, show_default="the model's"),
    channels: Optional[int] = typer.Option(None, metavar="1|3", help=CHANNELS_HELP, show_default="the model's"),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help=SKIP_HELP),
    json_out: Optional[Path] = typer.Option(None, "--json", metavar="PATH", help="Also write the results as JSON here."),
    per_label: Optional[int] = typer.Option(
        None, metavar="N", min=2, help="Generated samples per label.",
        show_default=f"{PER_LABEL:,}, or as many as the data can match",
    ),
    parzen: bool = typer.Option(
        True, "--parzen/--no-parzen", help="Include the Parzen-window log-likelihood (grey 28x28 sets only)."
    ),
    device: str = typer.Option("auto", metavar="auto|cpu|cuda", help="Where checkpoints and the classifier run."),
    seed: int = typer.Option(0, metavar="N", min=0, max=TRAINING_SEED_LIMIT - 1, help="Seed for the evaluation noise."),
    download: bool = typer.Option(True, "--download/--no-download", help="Download a named data set if missing."),
    threads: Optional[int] = typer.Option(
        None, metavar="N", min=1, max=1024, help="CPU threads.", show_default="$OMP_NUM_THREADS, else the idle cores"
    ),
    cas: bool = typer.Option(
        False, "--cas", help="Also the Classification Accuracy Score: the classifier trained on generated images "
        "only, tested on real ones, per label, beside the same classifier trained on real images."
    ),
    cas_per_label: Optional[int] = typer.Option(
        None, metavar="N", min=1, help="Generated training images per label for --cas.",
        show_default="as many as the real training split holds of each label",
    ),
) -> None:
    """Label accuracy, FID and within-label FID in a classifier's feature space, Parzen log-likelihood."""
    if cas_per_label is not None and not cas:
        raise UserError("--cas-per-label is for --cas", EXIT_USAGE)
    if cas and seed >= NOISE_SEED_LIMIT:  # --cas draws the set `cgan-gen --dataset` writes, by the portable rule
        raise UserError(f"--seed must be below 2^53 with --cas, got {seed}", EXIT_USAGE)
    if json_out is not None:
        check_writable(json_out)
    _require_torch()
    import torch

    from .distributed import default_threads, resolve_device
    from .evaluation import format_table, trust_warnings

    threads = threads or default_threads()
    torch.set_num_threads(threads)
    with library_errors():
        dev = resolve_device(device)
    with _progress() as progress:
        sample, spec = _load_model(model, dev, threads)
        if data is None and model.suffix == ".pt" and (run := _run_of(model)) is not None:
            data, skip_bad_images = run.data, skip_bad_images or run.skip_bad_images
        evaluator = _evaluator_for(spec, data, data_dir, image_size, channels, download, skip_bad_images, dev,
                                   progress)
        if per_label is None:
            per_label = min(PER_LABEL, evaluator.max_per_label)
        try:
            evaluator.check_per_label(per_label)
        except ValueError as exc:
            raise UserError(f"--per-label {per_label}: {exc}", EXIT_USAGE) from None
        try:
            report = evaluator.full(sample, spec.nz, seed=seed, per_label=per_label, parzen=parzen, progress=progress)
        except (ValueError, RuntimeError, MemoryError) as exc:  # the inputs were checked: the model or machine failed
            raise UserError(_one_line(exc)) from None
        if cas:
            from .cas import measure_cas

            with library_errors("--cas: "):
                cas_report = measure_cas(sample, spec.nz, evaluator, seed, cas_per_label, progress)
    print(format_table(report, title=str(model)))
    if cas:
        from .cas import format_cas

        print("\n" + format_cas(cas_report))
    for warning in trust_warnings(report):
        print(f"warning: {warning}", file=sys.stderr)
    if json_out is not None:
        payload = {"model": str(model), **report.to_dict()}
        if cas:
            payload["cas"] = cas_report.to_dict()
        write_output(json_out, (json.dumps(payload, indent=2) + "\n").encode())


def _run_of(checkpoint: Path) -> TrainConfig | None:
    """The config of the training run a checkpoint records (its data: a set's name or a folder), as cgan-export reads it."""
    from .checkpoint import load_checkpoint

    try:
        config = load_checkpoint(checkpoint, map_location="cpu").get("train_config")
        return TrainConfig.from_dict(config) if config else None
    except (ValueError, OSError):
        return None  # _load_model has already said what is wrong with the file


def _load_model(path: Path, device, threads: int):
    from .samplers import load_sampler

    try:
        return load_sampler(path, device, threads)
    except (ValueError, OSError, UserError) as exc:  # a missing or broken file: exit 1, as cgan-gen and cgan-export
        raise UserError(str(exc)) from None


def _evaluator_for(spec, data, data_dir, image_size, channels, download, skip_bad, device, progress):
    """The Evaluator of the data the model is compared with, shaped like the model's images."""
    from .classifier import ClassifierError
    from .data import SOURCES, DataSource
    from .evaluation import Evaluator

    if data is None:
        if spec.dataset not in SOURCES:
            raise UserError(f"the model was trained on the folder '{spec.dataset}': pass --data PATH", EXIT_USAGE)
        data = spec.dataset
    c, h, w = spec.image_shape
    try:
        source = DataSource(data, data_dir, image_size=image_size or (h if h == w else None),
                            channels=channels or c, download=download, skip_bad_images=skip_bad)
        return Evaluator.for_data(source, device, progress=progress, model=spec)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    except (OSError, MemoryError, ClassifierError) as exc:
        raise UserError(str(exc)) from None


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress display on stderr, redrawn several times a second; yields the library's callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, int] = {}
    console = Console(stderr=True)
    # Only on a terminal: in a log, rich would leave a blank line behind (as the training bar, progress.py).
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, refresh_per_second=4, disable=not console.is_terminal) as bar:

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield update


# How gloo and NCCL report, in the processes left, that another process died.
LOST_PEER = ("closed by peer", "reset by peer", "broken pipe", "communicator was aborted")


def _said_by_another_process(error: UserError, rank: int) -> bool:
    """Whether, under torchrun, another process prints this failure, so this one stays quiet.

    One line per failure: what every process hits alike (bad usage, a
    divergence, Ctrl-C) rank 0 reports, and a process that merely lost
    contact with a failed one leaves the word to that one.
    """
    from .trainer import TrainingDiverged

    message = str(error).lower()
    if any(sign in message for sign in LOST_PEER):
        return True
    shared = error.exit_code in (EXIT_USAGE, EXIT_INTERRUPTED) or isinstance(error.__context__, TrainingDiverged)
    return rank != 0 and shared


def train_main() -> None:
    run_app(train_app, "cgan-train")


def eval_main() -> None:
    run_app(eval_app, "cgan-eval")
