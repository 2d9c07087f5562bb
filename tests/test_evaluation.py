"""Evaluation: FID and Parzen math against closed forms and brute force, then the Evaluator
on real MNIST with the session's small MNIST classifier (conftest.mnist_classifier), and on
a tiny colour folder."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from cgan_train.classifier import classifier_for  # noqa: E402
from cgan_train.data import DataSource, evaluation_splits, to_model_range  # noqa: E402
from cgan_train.evaluation import (  # noqa: E402
    PARZEN_SIGMAS,
    EvalReport,
    Evaluator,
    GaussianStats,
    SampleFn,
    balanced_labels,
    format_table,
    frechet_distance,
    generate,
    label_accuracy,
    parzen_fit,
    parzen_log_likelihoods,
)


def test_frechet_distance_is_zero_for_identical_stats():
    g = torch.Generator().manual_seed(0)
    stats = GaussianStats.of(torch.randn(400, 6, generator=g) @ torch.randn(6, 6, generator=g))  # correlated
    assert frechet_distance(stats, stats) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances_in_any_basis():
    def f64(*values: float) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float64)

    mu_a, mu_b, var_a, var_b = f64(0, 1, 2), f64(1, -1, 2), f64(1, 4, 0.25), f64(9, 1, 0.25)
    expected = (mu_a - mu_b).square().sum() + (var_a + var_b - 2 * (var_a * var_b).sqrt()).sum()  # 5 + 5 + 0
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))

    def stats(mu: torch.Tensor, var: torch.Tensor, q: torch.Tensor) -> GaussianStats:
        return GaussianStats(q @ mu, q @ torch.diag(var) @ q.T)

    eye = torch.eye(3, dtype=torch.float64)
    assert frechet_distance(stats(mu_a, var_a, eye), stats(mu_b, var_b, eye)) == pytest.approx(expected.item())
    # A shared rotation leaves the distance alone but makes the covariances non-diagonal.
    rotated = frechet_distance(stats(mu_a, var_a, rotation), stats(mu_b, var_b, rotation))
    assert rotated == pytest.approx(expected.item())


def test_frechet_distance_is_infinite_for_non_finite_features():
    finite = GaussianStats.of(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)))
    diverged = GaussianStats.of(torch.full((50, 3), float("nan")))
    assert frechet_distance(diverged, finite) == math.inf


def brute_force_parzen(centers: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """log mean_i N(x; c_i, sigma^2 I), one point and one center at a time."""
    zero, scale = torch.tensor([0.0, sigma], dtype=torch.float64)
    normal = torch.distributions.Normal(zero, scale)
    return torch.tensor([
        torch.logsumexp(torch.stack([normal.log_prob(x - c).sum() for c in centers]), 0) - math.log(len(centers))
        for x in points
    ], dtype=torch.float64)


def tiny_parzen_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(n, 5, generator=g, dtype=torch.float64) for n in (7, 9, 11))


def test_parzen_log_likelihoods_match_brute_force_for_every_sigma():
    centers, points, _ = tiny_parzen_data(0)
    sigmas = [0.1, 0.3, 1.0]
    got = parzen_log_likelihoods(centers, points, sigmas, chunk=4)  # chunks of 4, 4 and 1 points
    assert got.shape == (3, 9)
    for row, sigma in zip(got, sigmas):
        torch.testing.assert_close(row, brute_force_parzen(centers, points, sigma))
    # float32 input, as Evaluator passes it: the distance expansion loses little.
    torch.testing.assert_close(parzen_log_likelihoods(centers.float(), points.float(), sigmas), got, atol=1e-3, rtol=0)


def test_parzen_fit_picks_the_sigma_best_for_validation_and_scores_the_test_points():
    centers, validation, test = tiny_parzen_data(1)
    sigmas = PARZEN_SIGMAS
    best = max(sigmas, key=lambda s: brute_force_parzen(centers, validation, s).mean().item())
    assert sigmas[0] < best < sigmas[-1]  # an interior choice, so the pick is really tested
    result = parzen_fit(centers, validation, test, sigmas)
    assert result.sigma == best
    expected = brute_force_parzen(centers, test, best)
    assert result.log_likelihood == pytest.approx(expected.mean().item())
    assert result.standard_error == pytest.approx(expected.std().item() / math.sqrt(len(test)))


def test_generate_calls_sample_in_batches_with_seeded_noise_and_checks_its_shape():
    calls = []

    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        calls.append(len(labels))
        return noise[:, :1, None, None].expand(-1, 1, 28, 28) + labels[:, None, None, None]

    rng = torch.get_rng_state()
    labels = balanced_labels(3)
    shape = (1, 28, 28)
    images = generate(sample, 4, labels, seed=7, image_shape=shape, batch_size=8)
    assert calls == [8, 8, 8, 6]
    assert torch.equal(images, generate(sample, 4, labels, seed=7, image_shape=shape))
    assert not torch.equal(images, generate(sample, 4, labels, seed=8, image_shape=shape))
    assert torch.equal(torch.get_rng_state(), rng)
    with pytest.raises(ValueError, match="shape"):
        generate(lambda labels, noise: torch.zeros(len(labels), 28, 28), 4, labels, seed=0, image_shape=shape)
    with pytest.raises(ValueError, match="shape"):  # colour asked, grey given
        generate(sample, 4, labels, seed=0, image_shape=(3, 28, 28))


def report(**overrides) -> EvalReport:
    fields = dict(
        label_accuracy=0.97, worst_label=8, worst_label_accuracy=0.9, per_label_accuracy=[0.97] * 10,
        fid=3.25, fid_floor=0.5, within_fid=7.5, within_fid_floor=2.0,
        parzen_ll=None, parzen_se=None, parzen_sigma=None, samples_per_label=1000,
    )
    return EvalReport(**{**fields, **overrides})


def test_format_table_shows_generator_beside_floor_and_dashes_what_was_not_measured():
    table = format_table(report(), title="g.onnx")
    assert table.startswith("### g.onnx\n")
    assert "| metric | generator | real-data floor |" in table
    assert "| FID, classifier features | 3.250 | 0.500 |" in table
    assert "| worst label | 8: 90.00% | — |" in table
    assert "| Parzen log-likelihood of the test set, nats | — | — |" in table
    named = format_table(report(per_label_accuracy=[0.9, 1.0], worst_label=0, class_names=["cat", "dog"],
                                dataset="pets", test_set="held out: 4 of 40 images"))
    assert "| worst label | cat: 90.00% | — |" in named and "| label | cat | dog |" in named
    assert "Data: pets; test images: held out: 4 of 40 images." in named
    with_parzen = report(parzen_ll=225.0, parzen_se=2.0, parzen_sigma=0.2, parzen_ll_floor=241.0,
                         parzen_se_floor=1.9, parzen_sigma_floor=0.17)
    assert "225.0 ± 2.0 (σ=0.200) | 241.0 ± 1.9 (σ=0.170)" in format_table(with_parzen)


# Real MNIST from here on.


@pytest.fixture(scope="session")
def evaluator(mnist_splits, mnist_classifier) -> Evaluator:
    """Full MNIST floors and test set, measured with the session's small classifier."""
    return Evaluator(*mnist_splits, mnist_classifier, test_note="the mnist test split")


def real_test_images(evaluator: Evaluator, collapse: bool = False) -> SampleFn:
    """A "generator" returning real test images of the asked labels: different ones spread over
    the test set (so they are as hard as the whole set), or with `collapse` one image whatever the noise."""
    images = to_model_range(evaluator.test_images)
    by_label = [(evaluator.test_labels == c).nonzero().squeeze(1) for c in range(10)]

    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        index = torch.empty_like(labels)
        for c in labels.unique().tolist():
            where = labels == c
            n, pool = int(where.sum()), by_label[c]
            picks = torch.zeros(n, dtype=torch.long) if collapse else torch.arange(n) * len(pool) // n
            index[where] = pool[picks]
        return images[index]

    return sample


def test_the_session_classifier_is_a_real_mnist_classifier(evaluator: Evaluator):
    # The small test classifier; the real recipe's 99% gate is test_classifier's.
    assert evaluator.classifier.test_accuracy >= 0.9
    logits, features = evaluator.classifier.embed(evaluator.test_images[:500])
    assert (logits.argmax(1) == evaluator.test_labels[:500]).float().mean().item() >= 0.85
    assert features.shape == (500, 128)


def test_evaluator_full_scores_real_test_images_like_real_data(evaluator: Evaluator):
    result = evaluator.full(real_test_images(evaluator), nz=8, per_label=100)
    assert result.label_accuracy >= evaluator.classifier.test_accuracy - 0.03
    assert len(result.per_label_accuracy) == 10 and result.samples_per_label == 100
    # Test images scored against the test set can only beat real training images.
    assert result.fid <= 1.2 * result.fid_floor
    assert result.within_fid <= 1.2 * result.within_fid_floor
    assert result.parzen_sigma in PARZEN_SIGMAS and result.parzen_sigma_floor in PARZEN_SIGMAS
    assert math.isfinite(result.parzen_ll) and math.isfinite(result.parzen_ll_floor)
    assert 0 < result.parzen_se < 10
    assert result.dataset == "mnist" and result.class_names == [str(c) for c in range(10)]
    assert result.test_set == "the mnist test split"
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_evaluator_full_penalises_a_generator_that_ignores_its_noise(evaluator: Evaluator):
    result = evaluator.full(real_test_images(evaluator, collapse=True), nz=8, per_label=100, parzen=False)
    assert result.within_fid > 5 * result.within_fid_floor
    assert result.parzen_ll is None and result.parzen_ll_floor is None


def test_evaluator_quick_returns_finite_fid_and_accuracy(evaluator: Evaluator):
    scores = evaluator.quick(real_test_images(evaluator), nz=8)
    assert set(scores) == {"fid", "accuracy"}
    assert all(math.isfinite(v) for v in scores.values())
    assert scores["accuracy"] >= evaluator.classifier.test_accuracy - 0.03


def test_label_accuracy_is_the_full_reports_number_without_the_rest(evaluator: Evaluator):
    sample = real_test_images(evaluator)
    light = label_accuracy(sample, 8, evaluator.classifier, 10, per_label=20, seed=3)
    assert light == evaluator.full(sample, 8, seed=3, per_label=20, parzen=False).label_accuracy


def test_per_label_beyond_the_real_floor_is_refused_before_generating(evaluator: Evaluator):
    def never(labels, noise):
        raise AssertionError("generated before checking --per-label")

    with pytest.raises(ValueError, match="smallest class"):
        evaluator.full(never, 8, per_label=evaluator.max_per_label + 1)


# A colour folder: the evaluation follows the data.


def test_a_colour_folder_is_scored_against_its_held_out_part_without_parzen(tmp_path, colour_folder):
    train, test, note = evaluation_splits(DataSource(str(colour_folder(tmp_path / "pets", per_class=24))))
    classifier = classifier_for(train, test, cache_dir=tmp_path, epochs=30)  # the recipe's 1,000 steps are slow
    evaluator = Evaluator(train, test, classifier, test_note=note)
    assert evaluator.image_shape == (3, 16, 16) and evaluator.class_names == ("cat", "dog", "owl")
    assert evaluator.classifier.image_shape == (3, 16, 16)
    assert not evaluator.parzen_applies
    held_out = evaluator.test_images

    def copies(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:  # real held-out images
        return to_model_range(torch.stack([held_out[evaluator.test_labels == c][0] for c in labels.tolist()]))

    calls = []
    result = evaluator.full(copies, nz=4, per_label=evaluator.max_per_label,
                            progress=lambda what, done, total: calls.append((what, done, total)))
    assert {what for what, _, _ in calls} == {"generating", "scoring images", "within-label FID"}
    assert ("generating", 66, 66) in calls  # each phase reports until it is done
    assert result.parzen_ll is None and result.class_names == ["cat", "dog", "owl"]
    assert result.test_set.startswith("held out: 6 of 72 images")
    assert result.label_accuracy == pytest.approx(1.0)  # three flat colours: trivially told apart
