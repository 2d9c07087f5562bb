"""What Generator refuses to load, and how it finds and checks the default model."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from cgan_runtime import Generator, default_model
from cgan_runtime.default_model import default_model_path

from support import BAD_MODELS, TINY_MODEL, install_default_model


def test_generator_says_a_missing_model_file_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model file at .*absent\.onnx"):
        Generator(tmp_path / "absent.onnx")


def test_generator_refuses_a_directory_as_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        Generator(tmp_path)


def test_generator_says_random_bytes_are_not_a_loadable_onnx_model(tmp_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(os.urandom(2048))
    with pytest.raises(ValueError, match=r"corrupt\.onnx is not a loadable ONNX model"):
        Generator(corrupt)


def test_generator_refuses_a_truncated_model(tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(TINY_MODEL.read_bytes()[:5000])
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        Generator(truncated)


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("renamed_input.onnx", r"expected inputs \['label', 'noise'\], got \['label', 'z'\]"),
        ("float_label.onnx", r"input 'label' must be int64 \[N\], got tensor\(float\)"),
        ("flat_output.onnx", r"output 'image' must be float32 \[N, C, H, W\], got tensor\(float\) with shape .'N', 16"),
        ("nz_mismatch.onnx", r"input 'noise' has dims \[9\] after N, but the metadata spec says \[8\]"),
        ("no_metadata.onnx", "metadata has no 'cgan.format_version'"),
        ("future_format.onnx", r"format version 3 is not supported \(this runtime reads versions 1, 2\)"),
        ("v2_without_weights.onnx", "format version 2 needs an optional input 'label_weights'"),
        ("nz_float.onnx", r"spec nz must be an integer, got 8\.0"),
        ("nz_string.onnx", r"spec nz must be an integer, got '8'"),
        # A diverged model's weights: its images would be black, every later step reporting success.
        ("nan_weights.onnx", r"the model's output for labels \[0, 9\] and zero noise holds NaN or infinity"),
        ("huge_nz.onnx", r"spec nz 1000000000000 is larger than the 65536 a generator may have"),
        ("dynamic_nz_mismatch.onnx", r"running it for labels \[0, 9\] \(10 classes per the spec\) failed: "),
        ("fewer_classes.onnx", r"running it for labels \[0, 9\] \(10 classes per the spec\) failed: "),
        # Its signature leaves C, H, W unnamed; onnxruntime infers them from the graph.
        ("image_mismatch.onnx", r"output 'image' has dims \[1, 5, 5\] after N, but the metadata spec says \[1, 4, 4\]"),
    ],
)
def test_generator_refuses_a_model_that_breaks_the_contract(fixture, message):
    with pytest.raises(ValueError, match=f"{fixture} breaks the cgan-edge generator contract: {message}"):
        Generator(BAD_MODELS / fixture)


def test_default_model_path_says_none_is_installed_when_assets_are_empty(assets_dir):
    with pytest.raises(FileNotFoundError, match=r"no default model is installed.*pass a model path"):
        default_model_path()


def test_default_model_path_says_none_is_installed_without_an_assets_package(monkeypatch):
    monkeypatch.setattr("cgan_runtime.default_model.importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="no default model is installed"):
        Generator()


def test_generator_without_a_model_loads_the_shipped_one_after_checking_it(assets_dir):
    shipped = install_default_model(assets_dir)
    assert default_model_path() == shipped
    generator = Generator(provider="cpu", threads=1)
    assert generator.path == shipped
    np.testing.assert_array_equal(
        generator.generate([3], seed=1), Generator(TINY_MODEL, provider="cpu", threads=1).generate([3], seed=1)
    )


def test_default_model_with_a_wrong_checksum_is_refused(assets_dir):
    install_default_model(assets_dir, sha256="0" * 64)
    with pytest.raises(ValueError, match=f"default model .* is corrupt: sha256 [0-9a-f]{{64}}, expected {'0' * 64}"):
        Generator()


def test_default_model_manifest_naming_a_missing_file_is_reported(assets_dir):
    install_default_model(assets_dir).unlink()
    with pytest.raises(FileNotFoundError, match=r"names generator\.onnx, which is missing"):
        default_model_path()


@pytest.mark.parametrize("manifest", ["not json", '{"file": "generator.onnx"}', "[1, 2]"])
def test_default_model_malformed_manifest_is_reported(assets_dir, manifest):
    install_default_model(assets_dir)
    (assets_dir / default_model.MANIFEST).write_text(manifest)
    with pytest.raises(ValueError, match=r"default_model\.json is malformed"):
        default_model_path()


@pytest.mark.parametrize("fixture", sorted(path.name for path in BAD_MODELS.glob("*.onnx")))
def test_every_broken_fixture_is_refused_in_one_line(fixture):
    with pytest.raises(ValueError) as caught:
        Generator(BAD_MODELS / fixture)
    assert "\n" not in str(caught.value)


def test_without_onnxruntime_loading_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is absent
    with pytest.raises(ModuleNotFoundError, match=r"onnxruntime is not installed: pip install '\.\[cpu\]' in the cgan-edge clone"):
        Generator(TINY_MODEL)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("image_shape", [1, 4.5, 4], r"spec image_shape must be a list of integers \(C, H, W\), got \[1, 4\.5, 4\]"),
        ("nz", "8", "spec nz must be an integer, got '8'"),
        ("num_classes", True, "spec num_classes must be an integer, got True"),
        ("output_range", ["-1", 1], "spec output_range must be two numbers"),
    ],
)
def test_spec_fields_of_the_wrong_json_type_are_refused_not_converted(field, value, message):
    """An image_shape of 4.5 was drawn as 4 (the browser refused it); nz "8" failed on '<' between str and int."""
    import json

    from cgan_runtime.contract import KEY_FORMAT_VERSION, KEY_SPEC, ModelSpec, spec_from_metadata

    spec = ModelSpec().to_dict() | {field: value}
    with pytest.raises(ValueError, match=message):
        spec_from_metadata({KEY_FORMAT_VERSION: "1", KEY_SPEC: json.dumps(spec)})
