"""Provider choice: what Generator asks onnxruntime for, and what it does when CUDA does not run.

No GPU is needed: `fake_providers` decides what onnxruntime offers and what
the session reports using.
"""

from __future__ import annotations

import warnings

import pytest

from cgan_runtime import Generator
from cgan_runtime.providers import CPU, CUDA

from support import TINY_MODEL


def test_auto_asks_for_cuda_with_heuristic_conv_search_when_onnxruntime_offers_it(fake_providers):
    requested = fake_providers(available=[CUDA, CPU], in_use=[CUDA, CPU])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generator = Generator(TINY_MODEL, provider="auto")
    assert requested == [[(CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU]]
    assert generator.providers == [CUDA, CPU]


def test_auto_runs_quietly_on_cpu_when_onnxruntime_has_no_cuda(fake_providers):
    requested = fake_providers(available=[CPU], in_use=[CPU])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generator = Generator(TINY_MODEL, provider="auto")
    assert requested == [[CPU]]
    assert generator.providers == [CPU]


def test_auto_warns_and_still_generates_when_cuda_is_offered_but_does_not_start(fake_providers):
    fake_providers(available=[CUDA, CPU], in_use=[CPU])
    with pytest.warns(RuntimeWarning, match="CUDA is available but onnxruntime could not start it; running on CPU"):
        generator = Generator(TINY_MODEL, provider="auto")
    assert generator.generate([1], seed=0).shape == (1, 28, 28)


def test_cpu_never_asks_for_cuda(fake_providers):
    requested = fake_providers(available=[CUDA, CPU], in_use=[CPU])
    assert Generator(TINY_MODEL, provider="cpu").providers == [CPU]
    assert requested == [[CPU]]


def test_cuda_fails_before_loading_when_onnxruntime_has_no_cuda(fake_providers):
    requested = fake_providers(available=[CPU], in_use=[CPU])
    with pytest.raises(RuntimeError, match=r"provider 'cuda' was requested but this onnxruntime offers only CPU.*gpu"):
        Generator(TINY_MODEL, provider="cuda")
    assert requested == []


def test_cuda_fails_when_the_session_falls_back_to_cpu(fake_providers):
    fake_providers(available=[CUDA, CPU], in_use=[CPU])
    with pytest.raises(RuntimeError, match="could not start it; running on CPU"):
        Generator(TINY_MODEL, provider="cuda")


def test_unknown_provider_is_refused_listing_the_valid_ones():
    with pytest.raises(ValueError, match="unknown provider 'gpu': expected one of auto, cpu, cuda"):
        Generator(TINY_MODEL, provider="gpu")


def test_loading_silences_onnxruntimes_own_logger(monkeypatch):
    import onnxruntime

    levels = []
    monkeypatch.setattr(onnxruntime, "set_default_logger_severity", levels.append)
    Generator(TINY_MODEL, provider="cpu")
    assert levels == [4]  # fatal only: a failed CUDA provider is the package's one line, not a log block


def test_cuda_libraries_of_the_gpu_extra_are_preloaded_quietly_only_when_cuda_is_asked_for(
    fake_providers, monkeypatch, capsys
):
    import onnxruntime

    calls = []

    def preload() -> None:  # onnxruntime's prints its failures on stdout
        print("Failed to load libcudnn.so.9: cannot open shared object file")
        calls.append("preload")

    monkeypatch.setattr(onnxruntime, "preload_dlls", preload, raising=False)
    fake_providers(available=[CUDA, CPU], in_use=[CUDA, CPU])
    Generator(TINY_MODEL, provider="cpu")
    assert calls == []
    Generator(TINY_MODEL, provider="auto")
    assert calls == ["preload"]
    assert capsys.readouterr().out == ""  # stdout may be carrying a PNG


def test_a_cuda_fallback_names_the_missing_library(fake_providers, monkeypatch):
    import ctypes

    def missing(path):
        raise OSError("libcublasLt.so.12: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    monkeypatch.setattr("pathlib.Path.glob", lambda self, pattern: iter([self / "libonnxruntime_providers_cuda.so"]))
    fake_providers(available=[CUDA, CPU], in_use=[CPU])
    with pytest.raises(RuntimeError, match=r"running on CPUExecutionProvider \(libcublasLt\.so\.12 is missing: pip install"):
        Generator(TINY_MODEL, provider="cuda")


def test_a_cuda_fallback_with_loadable_libraries_blames_the_gpu_or_driver(fake_providers, monkeypatch):
    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", lambda path: None)
    monkeypatch.setattr("pathlib.Path.glob", lambda self, pattern: iter([self / "libonnxruntime_providers_cuda.so"]))
    fake_providers(available=[CUDA, CPU], in_use=[CPU])
    with pytest.warns(RuntimeWarning, match=r"\(its libraries load, so no usable GPU or driver was found\)"):
        Generator(TINY_MODEL, provider="auto")
