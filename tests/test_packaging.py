"""Packaging: SPDX licence, the sdist carries what its tests need, extras declare what the code imports."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_licence_is_an_spdx_expression_with_its_file(project):
    assert project["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert any(req.replace(" ", "") == "setuptools>=77" for req in project["build-system"]["requires"])


def test_extras_declare_what_the_code_imports(project):
    extras = project["project"]["optional-dependencies"]
    assert any(dep.startswith("rich") for dep in extras["train"])  # the trainer's progress bar
    assert any(dep.startswith("hypothesis") for dep in extras["test"])
    assert extras["gpu"] == ["onnxruntime-gpu[cuda,cudnn]>=1.21"]  # CUDA and cuDNN from PyPI, preloaded
    assert project["tool"]["setuptools"]["package-data"]["cgan_runtime"] == ["py.typed"]
    assert "Typing :: Typed" in project["project"]["classifiers"]


LAUNCH_MODULES = {"cgan_runtime.commands.launch", "cgan_train.launch", "cgan_export.launch"}


def test_every_console_script_starts_in_a_light_launch_module(project):
    assert {target.split(":")[0] for target in project["project"]["scripts"].values()} == LAUNCH_MODULES


def test_the_sdist_carries_the_tests_fixtures_and_bench(tmp_path):
    pytest.importorskip("setuptools", minversion="77")
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / result.stdout.strip().splitlines()[-1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in [
        "LICENSE",
        "tests/conftest.py",
        "tests/support.py",
        "tests/fixtures/tiny_generator.onnx",
        "tests/fixtures/colour_generator.onnx",
        "tests/fixtures/make_tiny_generator.py",
        "bench/run.py",
        "runtime/cgan_runtime/py.typed",
        "train/cgan_train/classifiers/mnist-classifier-v2-b3588bb1d7d4.pt",
    ]:
        assert needed in names, needed
