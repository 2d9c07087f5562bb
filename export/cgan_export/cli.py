"""`cgan-export --ckpt best.pt`: parse, call the exporter, print its summary.

The exporter raises ordinary exceptions; this is where they become one line
and an exit code: a bad option is a usage error (2), anything after is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cgan_runtime.contract import DEFAULT_OPSET, MIN_OPSET
from cgan_runtime.commands.errors import EXIT_RUNTIME, EXIT_USAGE, UserError, describe_os_error, run_app
from cgan_runtime.files import check_writable

app = typer.Typer(add_completion=False, help="Export a training checkpoint to a verified ONNX generator.")


@app.command()
def export(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", metavar="PATH", help="Training checkpoint (last.pt or best.pt)."),
    upgrade: Optional[Path] = typer.Option(
        None, "--upgrade", metavar="PATH",
        help="Instead of --ckpt: give an exported format-version-1 file class weights (in place unless -o).",
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", metavar="PATH", help="Where to write the .onnx file.", show_default="next to the checkpoint"
    ),
    opset: int = typer.Option(DEFAULT_OPSET, metavar="N", help=f"ONNX opset: {MIN_OPSET} up to the newest the installed onnx knows."),
    precision: str = typer.Option(
        "fp32", metavar="fp32|fp16|int8", help="fp32; fp16 (half-size weights, fp32 compute); int8 (quantized, faster). "
        "fp16 and int8 are refused if they lose over 0.5 points of label accuracy on the training data."
    ),
    data_dir: Optional[Path] = typer.Option(
        None, metavar="PATH", help="Where the checkpoint's data set lives, for the fp16/int8 accuracy check.",
        show_default="where its training run read it",
    ),
) -> None:
    """Export the generator, verify it against torch, and write one self-describing .onnx file."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"cgan-export needs the train extra ({exc.name} is missing): pip install '.[train,cpu]' in the cgan-edge clone"
        ) from None
    if (ckpt is None) == (upgrade is None):
        raise UserError("pass one of --ckpt CHECKPOINT (export) or --upgrade FILE.onnx (add class weights)", EXIT_USAGE)
    if upgrade is not None:
        if (opset, precision, data_dir) != (DEFAULT_OPSET, "fp32", None):
            raise UserError("--upgrade keeps the file's graph and precision: it takes only -o", EXIT_USAGE)
        _upgrade(upgrade, output)
        return
    from .exporter import check_options, default_output, export_checkpoint

    try:
        check_options(precision, opset)
    except ValueError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    out = output or default_output(ckpt, precision)
    check_writable(out)  # before minutes of work, not after
    try:
        report = export_checkpoint(ckpt, out, opset=opset, precision=precision, data_dir=data_dir)
    except OSError as exc:
        raise UserError(describe_os_error(exc), EXIT_RUNTIME) from None
    except (ValueError, RuntimeError) as exc:
        raise UserError(str(exc), EXIT_RUNTIME) from None
    print(report.summary())


def _upgrade(source: Path, output: Optional[Path]) -> None:
    from .class_weights_graph import upgrade_onnx

    out = output or source
    check_writable(out)
    try:
        report = upgrade_onnx(source, out)
    except OSError as exc:
        raise UserError(describe_os_error(exc), EXIT_RUNTIME) from None
    except ValueError as exc:
        raise UserError(str(exc), EXIT_RUNTIME) from None
    print(report.summary())


def main() -> None:
    run_app(app, "cgan-export")
