"""`cgan-export --ckpt best.pt`: parse, call the exporter, print its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cgan_runtime.contract import DEFAULT_OPSET
from cgan_runtime.errors import EXIT_USAGE, UserError, run_app

app = typer.Typer(add_completion=False, help="Export a training checkpoint to a verified ONNX generator.")


@app.command()
def export(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Training checkpoint (last.pt or best.pt)."),
    upgrade: Optional[Path] = typer.Option(
        None, "--upgrade", metavar="FILE.onnx",
        help="Instead of --ckpt: give an exported format-version-1 file class weights (in place unless -o).",
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="[default: next to the checkpoint]"),
    opset: int = typer.Option(DEFAULT_OPSET, help="ONNX opset (>= 17)."),
    precision: str = typer.Option("fp32", help="fp32, or fp16 (half-size weights)."),
    quantize: str = typer.Option("none", help="none, or int8 (dynamic quantization)."),
    data_dir: Optional[Path] = typer.Option(None, help="MNIST folder, to check the label accuracy of fp16/int8."),
) -> None:
    """Export the generator, verify it against torch, and write one self-describing .onnx file."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(f"cgan-export needs {exc.name}: pip install 'cgan-edge[train,cpu]'") from None
    if (ckpt is None) == (upgrade is None):
        raise UserError("pass one of --ckpt CHECKPOINT (export) or --upgrade FILE.onnx (add class weights)", EXIT_USAGE)
    if upgrade is not None:
        if (opset, precision, quantize, data_dir) != (DEFAULT_OPSET, "fp32", "none", None):
            raise UserError("--upgrade keeps the file's graph and variant: it takes only -o", EXIT_USAGE)
        _upgrade(upgrade, output)
        return
    from .exporter import export_checkpoint

    if precision not in ("fp32", "fp16"):
        raise UserError(f"unknown precision '{precision}' (choose from fp32, fp16)", EXIT_USAGE)
    if quantize not in ("none", "int8"):
        raise UserError(f"unknown quantization '{quantize}' (choose from none, int8)", EXIT_USAGE)
    if precision == "fp16" and quantize == "int8":
        raise UserError("choose one variant: --precision fp16 or --quantize int8", EXIT_USAGE)
    variant = "int8" if quantize == "int8" else precision
    report = export_checkpoint(ckpt, output, opset=opset, variant=variant, data_dir=data_dir)
    print(report.summary())


def _upgrade(source: Path, output: Optional[Path]) -> None:
    from .mixing import upgrade_onnx

    try:
        report = upgrade_onnx(source, output)
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(report.summary())


def main() -> None:
    run_app(app, "cgan-export")
