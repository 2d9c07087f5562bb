"""MNIST as two in-memory tensors: the whole set fits, so no DataLoader per sample."""

from __future__ import annotations

from pathlib import Path

import torch

from cgan_runtime.errors import EXIT_USAGE, UserError

MNIST_LAYOUT = "DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte"


def load_mnist(data_dir: str | Path, train: bool = True, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]) from torchvision's layout.

    With `download`, torchvision fetches the files first; without it a missing
    dataset is a UserError naming the layout we expected.
    """
    from torchvision.datasets import MNIST  # heavy import, only where data is read

    root = Path(data_dir)
    try:
        dataset = MNIST(root=str(root), train=train, download=download)
    except RuntimeError as exc:
        if "not found" in str(exc).lower():
            hint = "" if download else "; pass --download to fetch it"
            raise UserError(f"MNIST not found in {root} (expected {MNIST_LAYOUT}){hint}", EXIT_USAGE) from None
        raise UserError(f"cannot read MNIST from {root}: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot download MNIST into {root}: {exc}") from None
    return dataset.data.clone(), dataset.targets.clone().long()


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W] -> float [N, 1, H, W] in [-1, 1], the generator's output range."""
    return images.unsqueeze(1).float().div(127.5).sub(1.0)
