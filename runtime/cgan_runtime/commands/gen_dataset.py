"""`cgan-gen --dataset PATH --per-label N`: write a labelled training set (`dataset` does the work).

Everything that can be checked before the model loads (the flags that go
together, labels' syntax, seed, threads, the format against the path) is
checked first; `write_dataset` checks the rest before it writes anything.
"""

from __future__ import annotations

from pathlib import Path

from ..dataset import DatasetRequest, dataset_format, recorded_seed, write_dataset
from ..inputs import as_labels, new_seed
from .errors import EXIT_USAGE, UserError, usage
from .gen_shared import check_seed_and_threads, label_tokens, load, note


def run_dataset(
    path: Path | None, per_label: int | None, image_format: str | None, *, label: list[str] | None,
    all_labels: bool, seed: int | None, scale_factor: int, model: Path | None, provider: str, threads: int | None,
    not_for_dataset: list[str],
) -> None:
    """Write the set; `not_for_dataset` names the other flags given, which a set has no use for."""
    if path is None:
        raise UserError("--per-label and --format are for --dataset PATH", EXIT_USAGE)
    if not_for_dataset:
        raise UserError(f"--dataset writes a labelled set: {', '.join(not_for_dataset)} does not apply", EXIT_USAGE)
    if per_label is None:
        raise UserError("--dataset needs --per-label N, the images of each label", EXIT_USAGE)
    tokens = label_tokens(label, all_labels)
    check_seed_and_threads(seed, threads)
    image_format = usage(dataset_format, path, image_format, prefix="--format: ")

    generator = load(model, provider, threads)
    if all_labels:
        labels = tuple(range(generator.num_classes))
    else:
        labels = tuple(sorted(set(usage(as_labels, tokens, generator.num_classes, generator.class_names).tolist())))
    if seed is None:  # continuing a set takes its seed; a new one gets a fresh seed, printed below
        seed = usage(recorded_seed, path, image_format)
        seed = new_seed() if seed is None else seed
    request = DatasetRequest(labels, per_label, seed, image_format, scale_factor)
    try:
        result = write_dataset(generator, path, request)
    except ValueError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise UserError(str(exc)) from None
    if result.written == 0:
        note(f"{path} already holds this set: {result.total:,} images (seed {seed})")
        return
    rate = result.written / result.seconds if result.seconds > 0 else float("inf")
    done = f"{result.written:,} images" if result.written == result.total else \
        f"the {result.written:,} missing images of {result.total:,}"
    note(f"wrote {done} to {path} (seed {seed}, {rate:,.0f} images/s, {generator.providers[0]})")
