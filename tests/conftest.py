"""Fixtures: a shared Generator on the tiny fixture, a fake package assets folder,
stand-in onnxruntime providers, and an in-process `cgan-gen` runner."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import onnxruntime
import pytest

from cgan_runtime import Generator
from cgan_runtime.commands.launch import gen
from cgan_runtime.providers import CPU

from support import TINY_MODEL, CliResult


@pytest.fixture(scope="session")
def generator() -> Generator:
    """One CPU session on the tiny fixture, shared: generation leaves a Generator unchanged."""
    return Generator(TINY_MODEL, provider="cpu", threads=1)


@pytest.fixture
def assets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder standing in for the `cgan_runtime.assets` package, whatever is installed."""
    folder = tmp_path / "assets"
    folder.mkdir()
    monkeypatch.setattr("cgan_runtime.default_model.assets_folder", lambda: folder)
    return folder


@pytest.fixture
def fake_providers(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sequence[str], Sequence[str]], list]:
    """Make onnxruntime offer `available` and its sessions report `in_use`, on any machine.

    Returns a function that installs the fakes and gives back the list of
    `providers` arguments sessions are created with. The real session still
    runs, on CPU, so generation works as usual.
    """
    requested: list = []

    def install(available: Sequence[str], in_use: Sequence[str]) -> list:
        class Session(onnxruntime.InferenceSession):
            def __init__(self, path: str, sess_options=None, providers=None) -> None:
                requested.append(providers)
                super().__init__(path, sess_options=sess_options, providers=[CPU])

            def get_providers(self) -> list[str]:
                return list(in_use)

        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(available))
        monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
        return requested

    return install


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]) -> Callable[..., CliResult]:
    """Run a console script's `main` with ARGS in this process, capturing file descriptors
    (onnxruntime and torch log natively)."""

    def run(main: Callable[[], None], prog: str, *args: object) -> CliResult:
        monkeypatch.setattr(sys, "argv", [prog, *map(str, args)])
        capfdbinary.readouterr()  # what the test printed before: not this command's output
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capfdbinary.readouterr()
        return CliResult(code, out, err.decode())

    return run


@pytest.fixture
def cgan_gen(run_cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """Run `cgan-gen ARGS` in this process, through its console entry (plain calls skip typer)."""
    return lambda *args: run_cli(gen, "cgan-gen", *args)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed-MLP checkpoint after 8 training steps on 256 real images: real weights, seconds to make."""
    pytest.importorskip("torch")
    from cgan_train.config import TrainConfig
    from cgan_train.trainer import train

    from support import MNIST_DIR

    if not (MNIST_DIR / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST at {MNIST_DIR}")
    out = tmp_path_factory.mktemp("tiny-run")
    cfg = TrainConfig.for_recipe("mlp", epochs=2, train_limit=256, evaluate=False)
    return train(cfg, MNIST_DIR, out, device="cpu")


@pytest.fixture(scope="session", autouse=True)
def classifier_cache_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never write the evaluation classifier's cache into the user's home folder:
    it goes to a session temp folder unless $CGAN_EDGE_CACHE names one."""
    if os.environ.get("CGAN_EDGE_CACHE"):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CGAN_EDGE_CACHE", str(tmp_path_factory.mktemp("classifier-cache")))
        yield


# The session's MNIST classifier: trained small so the suite stays fast, still a real classifier.
SMALL_CLASSIFIER_IMAGES = 6_000
SMALL_CLASSIFIER_EPOCHS = 2


@pytest.fixture(scope="session")
def mnist_splits():
    """Real MNIST (train, test) as LabelledImages; skips without MNIST."""
    pytest.importorskip("torch")
    from cgan_train.data import DataSource, load_data

    from support import MNIST_DIR

    if not (MNIST_DIR / "MNIST" / "raw").is_dir():
        pytest.skip(f"no MNIST at {MNIST_DIR} (set CGAN_EDGE_DATA_DIR)")
    source = DataSource("mnist", MNIST_DIR)
    return load_data(source, train=True), load_data(source, train=False)


@pytest.fixture(scope="session")
def mnist_classifier(mnist_splits):
    """One MNIST evaluation classifier per session, on the first 6,000 training images for 2 epochs
    (about 95% test accuracy, seconds to train; cached like the real one, under its own key)."""
    from cgan_train.classifier import classifier_for

    train, test = mnist_splits
    return classifier_for(train.subset(slice(None, SMALL_CLASSIFIER_IMAGES)), test,
                          epochs=SMALL_CLASSIFIER_EPOCHS, min_accuracy=0.9)


@pytest.fixture
def colour_folder() -> Callable[..., Path]:
    """Write a folder of class folders of RGB PNGs: a flat colour per class, plus noise."""
    import numpy as np
    from PIL import Image

    colours = {"cat": (200, 40, 40), "dog": (40, 200, 40), "owl": (40, 40, 200)}

    def make(root: Path, per_class: int = 8, size: int = 16, classes: Sequence[str] = tuple(colours)) -> Path:
        rng = np.random.default_rng(0)
        for name in classes:
            (root / name).mkdir(parents=True)
            for i in range(per_class):
                noise = rng.integers(-30, 30, (size, size, 3))
                pixels = np.clip(np.array(colours.get(name, (128, 128, 128))) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "RGB").save(root / name / f"{i:03d}.png")
        return root

    return make
