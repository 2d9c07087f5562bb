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
    ckpt: Path = typer.Option(..., "--ckpt", help="Training checkpoint (last.pt or best.pt)."),
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
    from .exporter import export_checkpoint

    if precision not in ("fp32", "fp16"):
        raise UserError(f"unknown precision '{precision}' (choose from fp32, fp16)", EXIT_USAGE)
    if quantize not in ("none", "int8"):
        raise UserError(f"unknown quantization '{quantize}' (choose from none, int8)", EXIT_USAGE)
    if precision == "fp16" and quantize == "int8":
        raise UserError("choose one variant: --precision fp16 or --quantize int8", EXIT_USAGE)
    variant = "int8" if quantize == "int8" else precision
    try:
        report = export_checkpoint(ckpt, output, opset=opset, variant=variant, data_dir=data_dir)
    except (ValueError, FileNotFoundError) as exc:  # the checkpoint loader's ordinary exceptions
        raise UserError(str(exc)) from None
    print(report.summary())


def main() -> None:
    run_app(app, "cgan-export")
