"""CAS: a classifier trained on generated images only, tested on real ones, beside the real-trained ceiling."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cgan_train.cas import CasReport, format_cas, measure_cas  # noqa: E402
from cgan_train.data import DataSource  # noqa: E402
from cgan_train.evaluation import Evaluator  # noqa: E402

SIZE = 8  # the classifier's 500 training steps on 8x8 images take a second
COLOURS = torch.tensor([(200, 40, 40), (40, 200, 40), (40, 40, 200)], dtype=torch.float32)


EPOCHS = 60  # flat colours need no more; the recipe's 500 steps would cost seconds each


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory) -> Evaluator:
    """The evaluator of a folder of three flat colours plus noise, 20 images each."""
    import numpy as np
    from PIL import Image

    from cgan_train.classifier import classifier_for
    from cgan_train.data import evaluation_splits

    root = tmp_path_factory.mktemp("cas") / "pets"
    rng = np.random.default_rng(0)
    for name, colour in zip(("cat", "dog", "owl"), COLOURS.numpy()):
        (root / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(colour + rng.integers(-30, 30, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "RGB").save(root / name / f"{i:03d}.png")
    train, test, note = evaluation_splits(DataSource(str(root)))
    return Evaluator(train, test, classifier_for(train, test, epochs=EPOCHS), test_note=note)


def painter(drawn: list[int] | None = None):
    """A stand-in generator: each label's flat colour plus its noise; with `drawn`, label c gets colour drawn[c]."""
    colours = COLOURS if drawn is None else COLOURS[drawn]

    def sample(labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        pixels = colours[labels][:, :, None, None] + 30 * noise[:, :3, None, None].clamp(-1, 1)
        return (pixels / 127.5 - 1).expand(-1, -1, SIZE, SIZE).clamp(-1, 1)

    return sample


def test_a_generator_that_draws_each_class_teaches_it_the_same_way_for_a_seed(evaluator):
    first = measure_cas(painter(), 8, evaluator, seed=3, per_label=16, epochs=EPOCHS)
    second = measure_cas(painter(), 8, evaluator, seed=3, per_label=16, epochs=EPOCHS)
    assert first.per_class == [1.0, 1.0, 1.0] and first.ceiling_per_class == [1.0, 1.0, 1.0]
    assert first.generated_per_class == [16, 16, 16] and first.real_per_class == evaluator.train_counts
    assert (first.accuracy, first.per_class) == (second.accuracy, second.per_class)


def test_a_generator_that_swaps_two_classes_teaches_neither(evaluator):
    swapped = measure_cas(painter(drawn=[1, 0, 2]), 8, evaluator, seed=0, epochs=EPOCHS)
    assert swapped.per_class == [0.0, 0.0, 1.0] and swapped.ceiling == 1.0
    assert swapped.generated_per_class == evaluator.train_counts  # by default, as many as the real split


def test_the_cas_table_puts_each_class_beside_its_ceiling_with_the_cost():
    report = CasReport(accuracy=0.5, per_class=[1.0, 0.0], ceiling=1.0, ceiling_per_class=[1.0, 1.0],
                       generated_per_class=[5, 5], real_per_class=[6, 7], class_names=["cat", "dog"], seed=4,
                       generating_s=1.2, training_s=30.4, testing_s=0.1, test_set="held out: 2 of 13 images")
    table = format_cas(report)
    assert "| trained on | all | cat | dog |" in table
    assert "| generated images (CAS) | 50.00% | 100.0% | 0.0% |" in table
    assert "| real training images (ceiling) | 100.00% | 100.0% | 100.0% |" in table
    assert "10 generated images (5 per class, seed 4) against 13 real ones (6 to 7 per class)" in table
    assert "1 s generating, 30 s training, 0 s testing" in table and "held out: 2 of 13" in table
