"""Classification Accuracy Score (Ravuri & Vinyals, 2019): what a generated set teaches a classifier.

FID says generated images look like real ones; CAS says whether they cover
what the real ones teach. The evaluation classifier's architecture and recipe
are trained on generated images only and tested on the real test images, per
class, beside the same classifier trained on the real training split: the
evaluation classifier itself, cached, which is the ceiling.

The generated set is the one `cgan-gen --dataset --seed S` writes: its noise
follows the portable rule and its pixels are rounded to uint8 as the files
hold them. The classifier's weights and batch order have fixed seeds, so the
score is a function of the generator and S.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from cgan_runtime.noise import noise_for_labels

from .classifier import Classifier, ProgressFn, train_classifier
from .data import LabelledImages, check_fits, memory_needed
from .evaluation import BATCH_SIZE, Evaluator, SampleFn


@dataclass
class CasReport:
    accuracy: float  # trained on generated images, tested on the real test images
    per_class: list[float]
    ceiling: float  # the same architecture trained on the real training split
    ceiling_per_class: list[float]
    generated_per_class: list[int]  # generated training images of each class
    real_per_class: list[int]  # the ceiling's training images of each class
    class_names: list[str]
    seed: int
    generating_s: float
    training_s: float
    testing_s: float
    test_set: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def measure_cas(
    sample: SampleFn, nz: int, evaluator: Evaluator, seed: int = 0, per_label: int | None = None,
    progress: ProgressFn | None = None, epochs: int | None = None,
) -> CasReport:
    """CAS of the generator behind `sample`: `per_label` images of each class (default: as many as the
    real training split holds of it), trained on for `epochs` (default: the evaluation classifier's
    recipe), then tested on `evaluator`'s real test images.

    ValueError for a seed outside the noise rule's range; MemoryError when the set cannot be held.
    """
    counts = list(evaluator.train_counts) if per_label is None else [per_label] * evaluator.num_classes
    start = time.perf_counter()
    images, labels = _generated_set(sample, nz, counts, seed, evaluator.image_shape, progress)
    generated = LabelledImages(images, labels, tuple(evaluator.class_names), "generated")
    generated_at = time.perf_counter()

    def training(what: str, done: int, total: int) -> None:
        if progress is not None:
            progress("training on generated images", done, total)

    model = train_classifier(generated, epochs, evaluator.device, progress=training)
    trained_at = time.perf_counter()
    accuracy, per_class = class_accuracies(model, evaluator.test_images, evaluator.test_labels)
    ceiling, ceiling_per_class = class_accuracies(evaluator.classifier, evaluator.test_images, evaluator.test_labels)
    return CasReport(
        accuracy=accuracy, per_class=per_class, ceiling=ceiling, ceiling_per_class=ceiling_per_class,
        generated_per_class=counts, real_per_class=list(evaluator.train_counts),
        class_names=list(evaluator.class_names), seed=seed, generating_s=generated_at - start,
        training_s=trained_at - generated_at, testing_s=time.perf_counter() - trained_at, test_set=evaluator.test_note,
    )


def class_accuracies(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, list[float]]:
    """(accuracy over all `images`, accuracy on each class's images)."""
    logits, _ = classifier.embed(images)
    correct = (logits.argmax(1) == labels).float()
    return correct.mean().item(), [correct[labels == c].mean().item() for c in range(classifier.num_classes)]


def _generated_set(
    sample: SampleFn, nz: int, counts: list[int], seed: int, image_shape: tuple[int, int, int],
    progress: ProgressFn | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, C, H, W] and their labels: counts[c] of class c, j = 0, 1, ... of each."""
    labels = np.repeat(np.arange(len(counts)), counts)
    check_fits(memory_needed(len(labels), image_shape), "cpu", f"{len(labels):,} generated images")
    noise = torch.from_numpy(noise_for_labels(labels, nz, seed))
    labels_t = torch.from_numpy(labels).long()
    images = torch.empty((len(labels), *image_shape), dtype=torch.uint8)
    with torch.no_grad():
        for start in range(0, len(labels), BATCH_SIZE):
            batch = slice(start, start + BATCH_SIZE)
            raw = sample(labels_t[batch], noise[batch]).float().cpu()
            if tuple(raw.shape[1:]) != tuple(image_shape):
                raise ValueError(f"the model draws {tuple(raw.shape[1:])} images, expected {tuple(image_shape)}")
            # As `cgan_runtime.images.to_uint8` writes them: [-1, 1] onto 0..255, rounded half to even.
            images[batch] = torch.round((raw + 1) * 127.5).clamp_(0, 255).to(torch.uint8)
            if progress is not None:
                progress("generating the CAS training set", min(start + BATCH_SIZE, len(labels)), len(labels))
    return images, labels_t


def format_cas(report: CasReport) -> str:
    """A markdown table: accuracy on the real test images, overall and per class, for each training set."""
    names = report.class_names
    generated, real = sum(report.generated_per_class), sum(report.real_per_class)
    lines = [
        "### Classification Accuracy Score (CAS): trained on generated images only, tested on real ones", "",
        "| trained on | all | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
        f"| generated images (CAS) | {report.accuracy:.2%} | " + " | ".join(f"{a:.1%}" for a in report.per_class) + " |",
        f"| real training images (ceiling) | {report.ceiling:.2%} | "
        + " | ".join(f"{a:.1%}" for a in report.ceiling_per_class) + " |",
        "",
        f"{generated:,} generated images ({_counts(report.generated_per_class)} per class, seed {report.seed}) "
        f"against {real:,} real ones ({_counts(report.real_per_class)} per class); the same classifier and recipe. "
        f"Cost: {report.generating_s:.0f} s generating, {report.training_s:.0f} s training, "
        f"{report.testing_s:.0f} s testing.",
    ]
    if report.test_set:
        lines[-1] += f" Test images: {report.test_set}."
    return "\n".join(lines)


def _counts(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"
