"""What one `cgan-gen` request may take, checked before anything is allocated.

A request that cannot fit fails at once with the figure, instead of growing
until the machine swaps or the kernel kills it.
"""

from __future__ import annotations

import os

from .images import MAX_SIDE

# 2^28 pixels (16384 x 16384): past this an image viewer, or Pillow's own
# decompression-bomb guard when the file is opened, refuses the picture anyway.
MAX_PICTURE_PIXELS = 1 << 28
_FALLBACK_MEMORY = 4 << 30  # when the machine does not say how much it has


def check_picture(height: int, width: int, image_format: str) -> None:
    """ValueError when one picture of height x width is more than `image_format` or a viewer takes."""
    side = MAX_SIDE[image_format]
    if max(height, width) > side:
        raise ValueError(f"the picture would be {width} x {height} pixels: {image_format} stores at most {side} a side")
    if height * width > MAX_PICTURE_PIXELS:
        raise ValueError(
            f"the picture would be {width} x {height} = {height * width:,} pixels, more than the {MAX_PICTURE_PIXELS:,} allowed"
        )


def request_bytes(images: int, nz: int, image_shape: tuple[int, int, int], picture_bytes: int, pictures: int) -> int:
    """Peak memory of generating `images` and holding `pictures` pictures of `picture_bytes` at once.

    Per image: its noise, the float32 output and two float32 temporaries of
    the uint8 conversion, and the uint8 pixels. Per picture: the picture, the
    intermediate of the enlargement, and the encoded file (at most its size).
    """
    channels, height, width = image_shape
    pixels = channels * height * width
    per_image = 4 * nz + 8 + 3 * 4 * pixels + pixels
    return images * per_image + pictures * 3 * picture_bytes


def memory_limit() -> int:
    """Half this machine's physical memory: what one request may use."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 2 * _FALLBACK_MEMORY
    return total // 2


def check_memory(needed: int) -> None:
    """ValueError naming the figures when `needed` bytes exceed `memory_limit()`."""
    limit = memory_limit()
    if needed > limit:
        raise ValueError(
            f"this request needs about {_gib(needed)} of memory, more than the {_gib(limit)} allowed "
            "(half this machine's): ask for fewer images or a smaller --scale"
        )


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
