"""The commands in a fresh process, as installed: cgan-gen runs without torch or onnx ever loading; the torch commands name their extra."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from support import TINY_MODEL

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_generating_digits_never_imports_torch_or_onnx(tmp_path):
    code = f"""
import sys
from cgan_runtime import Generator
from cgan_runtime.commands.launch import gen

Generator({str(TINY_MODEL)!r}).generate([1, 2], seed=0)
sys.argv = ["cgan-gen", "--label", "3", "-o", "out.png", "--model", {str(TINY_MODEL)!r}]
gen()
loaded = sorted(name for name in ("torch", "onnx", "torchvision") if name in sys.modules)
print("heavy modules loaded:", loaded)
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "heavy modules loaded: []" in result.stdout
    assert (tmp_path / "out.png").read_bytes().startswith(PNG_SIGNATURE)


def test_importing_the_package_defers_onnxruntime_until_a_generator_is_built(tmp_path):
    result = run_python("import sys, cgan_runtime; print('onnxruntime' in sys.modules)", tmp_path)
    assert result.stdout.strip() == "False", result.stderr


def test_installed_console_script_writes_a_png(tmp_path):
    script = Path(sysconfig.get_path("scripts")) / "cgan-gen"
    result = subprocess.run(
        [script, "--label", "4", "-o", "four.png", "--seed", "1", "--provider", "cpu", "--model", TINY_MODEL],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "cgan-gen: wrote four.png (seed 1, CPUExecutionProvider)\n"
    assert (tmp_path / "four.png").read_bytes().startswith(PNG_SIGNATURE)


def test_the_console_entry_and_error_modules_load_without_numpy(tmp_path):
    # What runs before the interrupt handlers are in place must be light: see cgan_runtime.commands.errors.launching.
    code = ("import sys, cgan_runtime.commands.launch, cgan_train.launch, cgan_export.launch; "
            "print(sorted({'numpy', 'typer', 'torch'} & set(sys.modules)))")
    result = run_python(code, tmp_path)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize(
    "launch, args, line",
    [
        ("cgan_train.launch import train as main", "--max-steps 1 --out run",
         "cgan-train: error: needs the train extra: pip install '.[train,cpu]' in the cgan-edge clone"),
        ("cgan_export.launch import export as main", "--ckpt best.pt",
         "cgan-export: error: cgan-export needs the train extra (onnx is missing): pip install '.[train,cpu]' "
         "in the cgan-edge clone"),
    ],
)
def test_the_torch_commands_without_the_train_extra_name_it_in_one_line(tmp_path, launch, args, line):
    # torch and onnx hidden alike, so the line is the same with or without them installed
    code = f"import sys; sys.modules['torch'] = sys.modules['onnx'] = None; sys.argv[1:] = {args.split()!r}; from {launch}; main()"
    result = run_python(code, tmp_path)
    assert (result.returncode, result.stderr) == (1, line + "\n")
    assert list(tmp_path.iterdir()) == []
