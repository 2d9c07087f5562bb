"""Differentiable augmentation of what the critic sees (DiffAugment, Zhao et al. 2020).

On a small set the critic memorises the real images and its gradients stop
teaching the generator. Shifting, cutting out and (for colour sets) recolouring
real and generated images alike, with differentiable operations, takes that
away without teaching the generator the augmentations: the generator's output is
never augmented, only the critic's view of it. Nothing here is part of the
generator, so nothing of it reaches a checkpoint's generator or the exported file.

The draws come from a torch.Generator the caller seeds per step, for the whole
global batch: a resumed run, or one split over processes, augments alike.
"""

from __future__ import annotations

from typing import Callable

import torch

TRANSLATION = 1 / 8  # the largest shift, as a share of the side
CUTOUT = 1 / 2  # the cut-out square's side, as a share of the image's


def augment(images: torch.Tensor, draws: torch.Generator, colour: bool, batch: int | None = None,
            part: slice = slice(None)) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1], colour-jittered (when `colour`), shifted, and cut out.

    The draws are made for a global batch of `batch` images (default N) of which
    `images` are the `part`: each process of a split run augments its slice alike.
    """
    n, _, h, w = images.shape
    batch = batch or n

    def ints(high: int) -> torch.Tensor:
        return torch.randint(0, high, (batch, 1, 1), generator=draws, device=draws.device)[part].to(images.device)

    if colour:
        images = _colour(images, torch.rand(batch, 3, generator=draws, device=draws.device)[part].to(images.device))
    images = shift(images, ints)
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    return _cutout(images, ints(h + 1 - ch % 2), ints(w + 1 - cw % 2), ch, cw)


def shift(images: torch.Tensor, ints: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Images shifted by up to TRANSLATION of their side, each by its own draw: `ints(k)` gives
    one integer in [0, k) per image, as [N, 1, 1]."""
    h, w = images.shape[2:]
    sh, sw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    return _translate(images, ints(2 * sh + 1) - sh, ints(2 * sw + 1) - sw)


def _colour(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation and contrast, each by one uniform draw per image (DiffAugment's ranges)."""
    r = r[:, :, None, None, None]
    x = x + (r[:, 0] - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r[:, 1] * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r[:, 2] + 0.5) + mean


def _translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Shift each image by (dy, dx) [N, 1, 1] pixels, filling with zeros (mid-grey)."""
    n, _, h, w = x.shape
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).clamp(-1, h)  # -1 and h: the padding
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).clamp(-1, w)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, ch: int, cw: int) -> torch.Tensor:
    """Zero a ch x cw rectangle centred at (cy, cx) [N, 1, 1] in each image (clipped at the edges)."""
    _, _, h, w = x.shape
    ry = torch.arange(h, device=x.device)[None, :, None] - cy + ch // 2  # 0 <= ry < ch: inside the square
    rx = torch.arange(w, device=x.device)[None, None, :] - cx + cw // 2
    inside = (ry >= 0) & (ry < ch) & (rx >= 0) & (rx < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)
