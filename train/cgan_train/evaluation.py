"""Score a generator against the data it was trained on, each figure beside the same figure for real data.

Metrics: label accuracy under the evaluation classifier (trained on the same
data); FID and within-label FID in that classifier's 128-d feature space; and,
for grey 28x28 sets only, the Parzen-window log-likelihood of the test set
(Goodfellow et al. 2014, Mirza & Osindero 2014). FID and Parzen values depend on
sample size, so every generator figure comes with a "floor": real training
images, as many per label as were generated, scored the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import torch

from cgan_runtime.contract import ModelSpec

from .classifier import FEATURE_DIM, WARN_TEST_ACCURACY, Classifier, ProgressFn, classifier_for
from .data import DataSource, LabelledImages, evaluation_splits

# (labels int64 [N] on cpu, noise float32 [N, nz] on cpu) -> images float32 [N, C, H, W] in [-1, 1], any device.
SampleFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

BATCH_SIZE = 1000
# A training run's score (Evaluator.quick): at least this many samples per label, at most this many in all.
QUICK_SAMPLES = (20, 2000)
PARZEN_SIGMAS = tuple(torch.logspace(-1, 0, 10, dtype=torch.float64).tolist())
# The last training images choose Parzen's sigma, as in the papers; floors never draw from them.
PARZEN_VALIDATION = 10_000
# Parzen windows in pixel space mean something only for small grey images with
# plenty of data (MNIST and its kin: the protocol of the GAN and CGAN papers).
PARZEN_SHAPE = (1, 28, 28)
PARZEN_MIN_TRAIN = 2 * PARZEN_VALIDATION


@dataclass(frozen=True)
class GaussianStats:
    """Mean and covariance of a feature set, in float64 (FID's trace terms cancel badly in float32)."""

    mean: torch.Tensor
    cov: torch.Tensor

    @classmethod
    def of(cls, features: torch.Tensor) -> GaussianStats:
        features = features.double()
        return cls(features.mean(0), torch.cov(features.T))


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + tr(A) + tr(B) - 2 tr((A^1/2 B A^1/2)^1/2), without scipy.

    A^1/2 B A^1/2 is symmetric PSD with the same eigenvalues as AB, so two
    `eigh` calls replace sqrtm's general, complex-valued square root; rounding
    can push tiny eigenvalues below zero, hence the clamps. A diverged generator's
    NaN images score infinity rather than stop a training run.
    """
    if not all(t.isfinite().all() for t in (a.mean, a.cov, b.mean, b.cov)):
        return math.inf
    values, vectors = torch.linalg.eigh(a.cov)
    root_a = (vectors * values.clamp_min(0).sqrt()) @ vectors.T
    inner = root_a @ b.cov @ root_a
    trace_root = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    distance = (a.mean - b.mean).square().sum() + a.cov.trace() + b.cov.trace() - 2 * trace_root
    return max(distance.item(), 0.0)


@dataclass(frozen=True)
class ParzenResult:
    log_likelihood: float  # mean over the test points, nats
    standard_error: float  # std / sqrt(n)
    sigma: float


def parzen_log_likelihoods(
    centers: torch.Tensor, points: torch.Tensor, sigmas: Sequence[float], chunk: int = 1000,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """log p(x) [len(sigmas), N] (float64) of each point under a Gaussian Parzen window per sigma.

    log p(x) = logsumexp_i(-||x - c_i||^2 / 2 sigma^2) - log M - D/2 log(2 pi sigma^2).
    Squared distances come from one matmul per chunk of points and serve every
    sigma, so only a chunk x M block is ever held.
    """
    m, d = centers.shape
    center_sq = centers.square().sum(1)
    rows = []
    for x in points.split(chunk):
        # ||x - c||^2 - ||x||^2 by one addmm; the per-row ||x||^2 cancels once the nearest
        # center's distance (the largest exponent, for every sigma) is factored out.
        excess = torch.addmm(center_sq, x, centers.T, alpha=-2)
        nearest = excess.min(1, keepdim=True).values
        excess -= nearest  # ||x - c||^2 - min_c ||x - c||^2 >= 0
        nearest_sq = (nearest.squeeze(1) + x.square().sum(1)).clamp_min(0).double()
        scratch = torch.empty_like(excess)
        per_sigma = []
        for sigma in sigmas:
            scale = -0.5 / sigma**2
            # exp() of inputs whose results would be subnormal runs several times slower; lifting
            # them to e^-80 changes a sum that is >= 1 by under M * 1e-35.
            log_sum = torch.mul(excess, scale, out=scratch).clamp_min_(-80.0).exp_().sum(1).log().double()
            log_sum += scale * nearest_sq
            per_sigma.append(log_sum - math.log(m) - d / 2 * math.log(2 * math.pi * sigma**2))
        rows.append(torch.stack(per_sigma))
        if progress is not None:
            progress("Parzen windows", min(len(rows) * chunk, len(points)), len(points))
    return torch.cat(rows, 1).cpu()


def parzen_fit(
    centers: torch.Tensor, validation: torch.Tensor, test: torch.Tensor, sigmas: Sequence[float] = PARZEN_SIGMAS,
    progress: ProgressFn | None = None,
) -> ParzenResult:
    """Pick sigma by the validation points' mean log-likelihood, then score the test points with it."""
    sigma = sigmas[int(parzen_log_likelihoods(centers, validation, sigmas, progress=progress).mean(1).argmax())]
    ll = parzen_log_likelihoods(centers, test, [sigma], progress=progress)[0]
    return ParzenResult(ll.mean().item(), (ll.std() / math.sqrt(len(ll))).item(), sigma)


def balanced_labels(per_label: int, num_classes: int = 10) -> torch.Tensor:
    return torch.arange(num_classes).repeat_interleave(per_label)


def generate(
    sample: SampleFn, nz: int, labels: torch.Tensor, seed: int, image_shape: tuple[int, int, int],
    batch_size: int = BATCH_SIZE, progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Images [N, C, H, W] on the CPU for `labels`, from standard-normal noise seeded by `seed`.

    The noise has its own torch.Generator so scoring never moves the global
    random stream of a training run.
    """
    noise = torch.randn(len(labels), nz, generator=torch.Generator().manual_seed(seed))
    batches = []
    with torch.no_grad():
        for label, z in zip(labels.split(batch_size), noise.split(batch_size)):
            images = sample(label, z)
            expected = (len(label), *image_shape)
            if tuple(images.shape) != expected:
                raise ValueError(f"sample() returned shape {tuple(images.shape)}, expected {expected}")
            batches.append(images.detach().float().cpu())
            if progress is not None:
                progress("generating", sum(len(b) for b in batches), len(labels))
    return torch.cat(batches)


def label_accuracy(
    sample: SampleFn, nz: int, classifier: Classifier, num_classes: int, per_label: int = 1000, seed: int = 0
) -> float:
    """The share of `per_label` samples of each label that the classifier labels as asked.

    The light path for export's accuracy guard: the same samples and number as
    `Evaluator.full(...).label_accuracy`, without the test set, FIDs or floors.
    """
    labels = balanced_labels(per_label, num_classes)
    logits, _ = classifier.embed(generate(sample, nz, labels, seed, classifier.image_shape))
    return (logits.argmax(1) == labels).float().mean().item()


def data_classifier(
    source: DataSource, device: str | torch.device = "cpu", cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> Classifier:
    """The evaluation classifier of this data (cached; trained on its training split on first use)."""
    train, test, _ = evaluation_splits(source)
    return classifier_for(train, test, cache_dir=cache_dir, device=device, progress=progress)


@dataclass
class EvalReport:
    label_accuracy: float
    worst_label: int
    worst_label_accuracy: float
    per_label_accuracy: list[float]
    fid: float
    fid_floor: float
    within_fid: float  # class-conditional FID, mean over labels
    within_fid_floor: float
    parzen_ll: float | None  # the Parzen fields are None when Parzen was skipped
    parzen_se: float | None
    parzen_sigma: float | None
    samples_per_label: int
    # Real-data references for the table's floor column.
    classifier_accuracy: float | None = None  # the classifier on the real test set
    parzen_ll_floor: float | None = None
    parzen_se_floor: float | None = None
    parzen_sigma_floor: float | None = None
    # What was compared against.
    dataset: str = "mnist"
    class_names: list[str] | None = None  # None: the labels' indices
    test_set: str = ""  # which real images the FIDs and the classifier's accuracy use

    def to_dict(self) -> dict:
        return asdict(self)


class Evaluator:
    """A data set's test images, its cached classifier and real-data references, ready to score generators.

    Test-set statistics and floors are computed on first use and kept, so the
    per-epoch `quick` score costs little more than the generated samples.
    """

    def __init__(
        self, train: LabelledImages, test: LabelledImages, classifier: Classifier,
        device: str | torch.device = "cpu", test_note: str = "the test split",
    ) -> None:
        if classifier.image_shape != train.image_shape or classifier.num_classes != train.num_classes:
            raise ValueError(f"classifier for {classifier.num_classes} classes of {classifier.image_shape}, "
                             f"data has {train.num_classes} of {train.image_shape}")
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval()
        self.dataset, self.class_names, self.image_shape = train.dataset, train.class_names, train.image_shape
        self.num_classes = train.num_classes
        self.train_counts = torch.bincount(train.labels, minlength=self.num_classes).tolist()  # the classifier's
        self.test_images, self.test_labels, self.test_note = test.images, test.labels, test_note
        self.parzen_applies = train.image_shape == PARZEN_SHAPE and len(train) >= PARZEN_MIN_TRAIN
        # Parzen's validation images are the last training images; floors never draw from them.
        pool = slice(None, -PARZEN_VALIDATION) if self.parzen_applies else slice(None)
        self._validation_images = train.images[-PARZEN_VALIDATION:] if self.parzen_applies else None
        self._pool_images, self._pool_labels = train.images[pool], train.labels[pool]
        self._feature_floors: dict[int, tuple[float, float]] = {}  # keyed by samples per label
        self._parzen_floors: dict[int, ParzenResult] = {}

    @classmethod
    def for_data(
        cls, source: DataSource, device: str | torch.device = "cpu", cache_dir: Path | None = None,
        loaded: LabelledImages | None = None, progress: ProgressFn | None = None, model: ModelSpec | None = None,
    ) -> Evaluator:
        """The evaluator of `source`; `loaded` is its training set (a folder: the whole folder) if already read.

        With `model`, a ValueError says so before the classifier is trained if the data's
        images or classes are not the ones that model draws.
        """
        train, test, note = evaluation_splits(source, loaded)
        if model is not None:
            model_has = (model.image_shape, tuple(model.class_names))
            data_has = (train.image_shape, tuple(train.class_names))
            if model_has != data_has:
                raise ValueError(f"the model makes {_describe(*model_has)} "
                                 f"but {source.name} has {_describe(*data_has)}")
        classifier = classifier_for(train, test, cache_dir=cache_dir, device=device, progress=progress)
        return cls(train, test, classifier, device, note)

    @property
    def max_per_label(self) -> int:
        """The most samples per label that can be compared: real floor images are needed as many per label."""
        return int(torch.bincount(self._pool_labels, minlength=self.num_classes).min())

    def check_per_label(self, per_label: int) -> None:
        """ValueError unless `per_label` samples of each label can be scored beside a real-data floor."""
        if per_label < 2:
            raise ValueError(f"per_label must be at least 2 to estimate a covariance, got {per_label}")
        if per_label > self.max_per_label:
            raise ValueError(f"{per_label} samples per label is more than the real-data floor can match: "
                             f"{self.dataset} has {self.max_per_label} training images of its smallest class")

    def quick(self, sample: SampleFn, nz: int, seed: int = 0, n: int | None = None) -> dict[str, float]:
        """FID against the test set and label accuracy on `n` samples (rounded to whole labels): a training run's score.

        By default as many samples as training images, within QUICK_SAMPLES: a small set's
        score costs little, and its FID (biased at that size) only ranks the run's own checkpoints.
        """
        if n is None:
            low, high = QUICK_SAMPLES
            n = min(high, max(low * self.num_classes, len(self._pool_labels)))
        labels = balanced_labels(max(n // self.num_classes, 2), self.num_classes)
        logits, features = self.classifier.embed(generate(sample, nz, labels, seed, self.image_shape))
        return {
            "fid": frechet_distance(GaussianStats.of(features), self._test_stats[0]),
            "accuracy": (logits.argmax(1) == labels).float().mean().item(),
        }

    def full(
        self, sample: SampleFn, nz: int, seed: int = 0, per_label: int = 1000, parzen: bool = True,
        progress: ProgressFn | None = None,
    ) -> EvalReport:
        """Every metric on `per_label` samples of each label, beside its real-data floor.

        Parzen is measured only where it applies (`parzen_applies`); elsewhere its fields are None.
        """
        self.check_per_label(per_label)
        labels = balanced_labels(per_label, self.num_classes)
        images = generate(sample, nz, labels, seed, self.image_shape, progress=progress)
        logits, features = self.classifier.embed(images, progress=progress)
        correct = (logits.argmax(1) == labels).float()
        per_label_accuracy = [correct[labels == c].mean().item() for c in range(self.num_classes)]
        worst = min(range(self.num_classes), key=per_label_accuracy.__getitem__)
        fid, within_fid = self._fids(features, labels, progress)
        fid_floor, within_fid_floor = self._feature_floor(per_label, progress)
        generated = floor = None
        if parzen and self.parzen_applies:
            generated = self._parzen(images, progress)
            floor = self.parzen_reference(per_label, progress)
        parzen_ll, parzen_se, parzen_sigma = _parzen_fields(generated)
        parzen_ll_floor, parzen_se_floor, parzen_sigma_floor = _parzen_fields(floor)
        return EvalReport(
            label_accuracy=correct.mean().item(),
            worst_label=worst,
            worst_label_accuracy=per_label_accuracy[worst],
            per_label_accuracy=per_label_accuracy,
            fid=fid,
            fid_floor=fid_floor,
            within_fid=within_fid,
            within_fid_floor=within_fid_floor,
            parzen_ll=parzen_ll,
            parzen_se=parzen_se,
            parzen_sigma=parzen_sigma,
            samples_per_label=per_label,
            classifier_accuracy=self.classifier.test_accuracy,
            parzen_ll_floor=parzen_ll_floor,
            parzen_se_floor=parzen_se_floor,
            parzen_sigma_floor=parzen_sigma_floor,
            dataset=self.dataset,
            class_names=list(self.class_names),
            test_set=self.test_note,
        )

    def parzen_reference(self, per_label: int = 1000, progress: ProgressFn | None = None) -> ParzenResult:
        """The test set's Parzen log-likelihood under real training images, `per_label` of each
        label (10,000 by default: about 241 nats in the CGAN paper), fitted like a generator's."""
        if not self.parzen_applies:
            raise ValueError(f"Parzen windows are measured only for {PARZEN_SHAPE} sets of at least "
                             f"{PARZEN_MIN_TRAIN:,} training images")
        if per_label not in self._parzen_floors:
            self._parzen_floors[per_label] = self._parzen(self._floor_set(per_label)[0], progress)
        return self._parzen_floors[per_label]

    @cached_property
    def _test_stats(self) -> tuple[GaussianStats, list[GaussianStats]]:
        """Feature statistics of the whole test set and of each label's test images."""
        _, features = self.classifier.embed(self.test_images)
        by_label = [GaussianStats.of(features[self.test_labels == c]) for c in range(self.num_classes)]
        return GaussianStats.of(features), by_label

    @cached_property
    def _parzen_sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(validation, test) images as flat [N, 784] pixels in [0, 1] on the device."""
        return _unit_pixels(self._validation_images).to(self.device), _unit_pixels(self.test_images).to(self.device)

    def _fids(self, features: torch.Tensor, labels: torch.Tensor,
              progress: ProgressFn | None = None) -> tuple[float, float]:
        """(FID against the test set, within-label FID averaged over labels)."""
        overall, by_label = self._test_stats
        within = []
        for c in range(self.num_classes):
            within.append(frechet_distance(GaussianStats.of(features[labels == c]), by_label[c]))
            if progress is not None:
                progress("within-label FID", c + 1, self.num_classes)
        return frechet_distance(GaussianStats.of(features), overall), sum(within) / len(within)

    def _feature_floor(self, per_label: int, progress: ProgressFn | None = None) -> tuple[float, float]:
        if per_label not in self._feature_floors:
            images, labels = self._floor_set(per_label)
            features = self.classifier.embed(images, progress=progress)[1]
            self._feature_floors[per_label] = self._fids(features, labels, progress)
        return self._feature_floors[per_label]

    def _floor_set(self, per_label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `per_label` training images of each label (uint8), outside the Parzen validation set."""
        self.check_per_label(per_label)
        index = torch.cat([(self._pool_labels == c).nonzero().squeeze(1)[:per_label]
                           for c in range(self.num_classes)])
        return self._pool_images[index], self._pool_labels[index]

    def _parzen(self, images: torch.Tensor, progress: ProgressFn | None = None) -> ParzenResult:
        validation, test = self._parzen_sets
        return parzen_fit(_unit_pixels(images).to(self.device), validation, test, progress=progress)


def _describe(shape: tuple[int, ...], names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{'x'.join(map(str, shape))} images of {len(names)} classes ({shown})"


def _parzen_fields(result: ParzenResult | None) -> tuple[float | None, float | None, float | None]:
    if result is None:
        return None, None, None
    return result.log_likelihood, result.standard_error, result.sigma


def _unit_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 or model-range float images [N, C, H, W] -> float32 [N, C*H*W] in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.flatten(1).float() / 255
    return (images.flatten(1).float() + 1) / 2


def trust_warnings(report: EvalReport) -> list[str]:
    """What in `report` to trust less: a weak classifier, or within-label FIDs on fewer samples than features."""
    warnings = []
    if report.classifier_accuracy is not None and report.classifier_accuracy < WARN_TEST_ACCURACY:
        warnings.append(f"the evaluation classifier labels only {report.classifier_accuracy:.1%} of the real test "
                        "images right: label accuracy and FIDs measured with it are coarse")
    if report.samples_per_label < FEATURE_DIM:
        warnings.append(f"within-label FID compares {report.samples_per_label} samples per label in {FEATURE_DIM} "
                        "features: too few for a covariance, so it and its floor are inflated; compare it only "
                        "with its floor, at the same sample size")
    return warnings


def format_table(report: EvalReport, title: str = "") -> str:
    """A markdown table: metric | generator | real-data floor, then accuracy per label."""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.2%}"

    def parzen(ll: float | None, se: float | None, sigma: float | None) -> str:
        return "—" if ll is None else f"{ll:.1f} ± {se:.1f} (σ={sigma:.3f})"

    names = report.class_names or [str(c) for c in range(len(report.per_label_accuracy))]
    rows = [
        ("label accuracy", pct(report.label_accuracy), pct(report.classifier_accuracy)),
        ("worst label", f"{names[report.worst_label]}: {pct(report.worst_label_accuracy)}", "—"),
        ("FID, classifier features", f"{report.fid:.3f}", f"{report.fid_floor:.3f}"),
        ("within-label FID, mean over labels", f"{report.within_fid:.3f}", f"{report.within_fid_floor:.3f}"),
        ("Parzen log-likelihood of the test set, nats",
         parzen(report.parzen_ll, report.parzen_se, report.parzen_sigma),
         parzen(report.parzen_ll_floor, report.parzen_se_floor, report.parzen_sigma_floor)),
    ]
    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | generator | real-data floor |", "|---|---:|---:|"]
    lines += [f"| {name} | {ours} | {real} |" for name, ours, real in rows]
    lines += ["", "| label | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
              "| accuracy | " + " | ".join(f"{a:.1%}" for a in report.per_label_accuracy) + " |"]
    lines += ["", f"{report.samples_per_label:,} samples per label. Floors: real training images, as many per label, "
              "scored the same way; for label accuracy, the classifier on the real test set. "
              "Lower FID is better, higher log-likelihood is better."]
    if report.test_set:
        lines[-1] += f" Data: {report.dataset}; test images: {report.test_set}."
    return "\n".join(lines)
