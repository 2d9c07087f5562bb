"""Turn generator output into pictures: uint8 pixels, grids, enlargements, PNG/JPEG/WebP bytes.

numpy and Pillow only; the training code uses `make_grid` and `encode_png`
for its sample grids, so what it saves looks like what `cgan-gen` writes.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

from .inputs import check_int


def to_uint8(raw: np.ndarray, output_range: tuple[float, float]) -> np.ndarray:
    """Model output [N, C, H, W] in `output_range` -> uint8 [N, H, W] (C == 1) or [N, H, W, C].

    Values are mapped linearly onto 0..255, rounded, and clipped: a generator
    may overshoot its nominal range slightly.
    """
    low, high = output_range
    pixels = np.clip(np.rint((raw - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    pixels = pixels.transpose(0, 2, 3, 1)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


# Pixels between and around the cells of a grid, in every picture the package draws.
GRID_PADDING = 2


def grid_size(rows: int, cols: int, height: int, width: int, padding: int = GRID_PADDING) -> tuple[int, int]:
    """(height, width) of `make_grid`'s picture of rows x cols cells of height x width: known before drawing it."""
    return rows * (height + padding) + padding, cols * (width + padding) + padding


def make_grid(images: np.ndarray, cols: int, padding: int = GRID_PADDING, pad_value: int = 0) -> np.ndarray:
    """Tile uint8 images [N, H, W] or [N, H, W, C] into one picture, row-major.

    The grid has ceil(N / cols) rows; `padding` pixels of `pad_value`
    separate the cells and frame the grid, and unused cells stay blank, so the
    result is rows*(H+padding)+padding high and cols*(W+padding)+padding wide.
    """
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, H, W] or [N, H, W, C] array, got shape {images.shape}")
    cols = check_int("cols", cols, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    count, height, width = images.shape[:3]
    rows = -(-count // cols)
    step_y, step_x = height + padding, width + padding
    grid = np.full((*grid_size(rows, cols, height, width, padding), *images.shape[3:]), pad_value, dtype=images.dtype)
    for index, image in enumerate(images):
        top = padding + (index // cols) * step_y
        left = padding + (index % cols) * step_x
        grid[top : top + height, left : left + width] = image
    return grid


def scale(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge one picture [H, W] or [H, W, C] by an integer factor, nearest neighbour (crisp pixels)."""
    factor = check_int("scale factor", factor, minimum=1)
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def to_pil(images: np.ndarray) -> list[Image.Image]:
    """uint8 images [N, H, W] or [N, H, W, C] as Pillow images."""
    return [Image.fromarray(image) for image in images]


# File suffix -> Pillow format. WebP is lossless: digits and small images stay crisp.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_SAVE_OPTIONS = {"PNG": {}, "JPEG": {"quality": 95}, "WEBP": {"lossless": True}}
_SUFFIX = {image_format: suffix for suffix, image_format in reversed(FORMATS.items())}  # JPEG: .jpg
# The largest side each format can store.
MAX_SIDE = {"PNG": 2**31 - 1, "JPEG": 65_500, "WEBP": 16_383, "GIF": 65_535}  # GIF: animations (cgan_runtime.animation)


def format_for(path: str | os.PathLike[str]) -> str:
    """The image format a file name asks for, from its suffix; ValueError for any other suffix."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell the image format from {os.fspath(path)!r}: use a name ending in {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def encode(image: np.ndarray, image_format: str = "PNG") -> bytes:
    """One uint8 picture [H, W] (grey) or [H, W, 3] (RGB) as PNG, JPEG or WebP bytes."""
    if image.dtype != np.uint8:
        raise ValueError(f"image pixels must be uint8, got {image.dtype}")
    if image_format not in _SAVE_OPTIONS:
        raise ValueError(f"unknown image format {image_format!r}: expected one of {', '.join(_SAVE_OPTIONS)}")
    buffer = _NamedBuffer(f"image{_SUFFIX[image_format]}")
    Image.fromarray(image).save(buffer, **_SAVE_OPTIONS[image_format])
    return buffer.getvalue()


class _NamedBuffer(io.BytesIO):
    """Memory that Pillow writes as it would a file of this name. Told the format by the name's
    suffix rather than by `format=`, Pillow loads that format's plugin alone instead of its five
    common ones (JPEG's pulls in TIFF's, fractions and decimal): ~10 ms of cgan-gen's start-up."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def encode_png(image: np.ndarray) -> bytes:
    """One uint8 picture [H, W] (grey) or [H, W, 3|4] (RGB, RGBA) as PNG bytes."""
    return encode(image, "PNG")


def encode_png_plain(image: np.ndarray, compress: bool = True) -> bytes:
    """One uint8 picture [H, W] (grey) or [H, W, 3|4] (RGB, RGBA) as a PNG written with zlib alone.

    The same pixels as `encode_png`, not the same bytes: one IDAT chunk, no row filter, zlib's
    fastest level, or with `compress=False` the rows stored as they are. For many small pictures
    (a labelled set's digits) Pillow's per-call work is most of the cost. On the shipped model's
    28x28 digits, one thread: Pillow 52-89 µs and 346 bytes a digit, this 21 µs and 343 bytes,
    stored 2 µs and 880 bytes.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"image pixels must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in _PNG_COLOUR_TYPE:
        raise ValueError(f"a picture is [H, W] or [H, W, 3|4], got shape {list(image.shape)}")
    height, width, channels = image.shape
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # each row: filter type 0 (none), then its pixels
    rows[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPE[channels], 0, 0, 0)
    pixels = zlib.compress(rows.tobytes(), _PNG_ZLIB_LEVEL if compress else 0)
    return b"".join((_PNG_SIGNATURE, _png_chunk(b"IHDR", header), _png_chunk(b"IDAT", pixels), _PNG_END))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: grey, RGB, RGBA
_PNG_END = _png_chunk(b"IEND", b"")
# zlib's fastest: on a digit, the default level 6 takes 1.5 times as long for files 5% smaller.
_PNG_ZLIB_LEVEL = 1
