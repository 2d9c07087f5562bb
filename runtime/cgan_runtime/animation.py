"""Morphs and walks as frames, and frames as animated GIF or WebP (Pillow).

    frames = morph(generator, 3, 8, frames=24, seed=0)   # uint8 [24, H, W]: a 3 becoming an 8
    frames = walk(generator, 5, frames=24, seed=0)       # one 5, its handwriting changing
    data = encode_animation(frames, "gif", fps=12)

The same seed gives the same frames, and so the same file.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .inputs import check_int
from .mixing import class_index, morph_noise, morph_weights, walk_noise

if TYPE_CHECKING:
    from .generator import Generator

ANIMATION_FORMATS = ("gif", "webp")
DEFAULT_FRAMES = 24
DEFAULT_FPS = 12
MAX_FPS = 50  # GIF stores delays in hundredths of a second; browsers slow anything faster


def morph(generator: Generator, start: int | str, end: int | str, frames: int, seed: int) -> np.ndarray:
    """uint8 frames [frames, H, W(, C)]: class weights from pure `start` to pure `end`, one noise.

    Classes are indices or, as str, names. The first frame is exactly
    `generator.generate([start], seed)[0]`. ValueError for a file that
    cannot mix, an unknown class or frames < 2.
    """
    start, end = (class_index(cls, generator.num_classes, generator.class_names) for cls in (start, end))
    weights = morph_weights(start, end, frames, generator.num_classes)
    return generator.generate_mixed(weights, noise=morph_noise(start, generator.nz, frames, seed))


def walk(generator: Generator, label: int | str, frames: int, seed: int) -> np.ndarray:
    """uint8 frames [frames, H, W(, C)]: one label (index or name), noise once round a great circle.

    Needs no class weights, so version-1 files walk too. The first frame is
    exactly `generator.generate([label], seed)[0]`.
    """
    label = class_index(label, generator.num_classes, generator.class_names)
    noise = walk_noise(label, generator.nz, frames, seed)
    return generator.generate(np.full(frames, label, dtype=np.int64), noise=noise)


def encode_animation(frames: np.ndarray, fmt: str, fps: int, loop: bool = True) -> bytes:
    """uint8 frames [F, H, W] or [F, H, W, C] as an animated GIF or WebP.

    `loop` plays the animation forever, else once. WebP is lossless, so its
    frames keep the generator's exact pixels; GIF keeps them too for grey
    images (256 levels fit its palette).
    """
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"unknown animation format {fmt!r} (choose from {', '.join(ANIMATION_FORMATS)})")
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 [F, H, W(, C)] array, got {frames.dtype} {frames.shape}")
    fps = check_int("fps", fps, minimum=1)
    if fps > MAX_FPS:
        raise ValueError(f"fps must be at most {MAX_FPS}, got {fps}")
    images = [Image.fromarray(frame) for frame in frames]
    options: dict = {"save_all": True, "append_images": images[1:], "duration": round(1000 / fps)}
    if fmt == "gif":
        if loop:
            options["loop"] = 0  # GIF: 0 repeats forever; with no loop count it plays once
        options["optimize"] = False  # keep every palette entry: the file stays pixel-exact
    else:
        options.update(loop=0 if loop else 1, lossless=True)
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()
