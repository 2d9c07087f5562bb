"""A real small set from Debian's font packages: the letters A to J, one image per font.

Every TrueType/OpenType font under /usr/share/fonts that draws all ten letters
gives one grey 32x32 image per letter (white on black, centred, scaled to fit),
written as OUT/<letter>/<font>-<digest of its path>.png: a labelled folder for `cgan-train --data OUT`.
Install fonts first (no download beyond apt); bench/fonts-packages.txt lists 199 packages,
of which Debian offered 193 on 2026-12-02: those gave the figures in docs/performance.md
(1,360 fonts, 13,600 images):

    apt-get install $(cat bench/fonts-packages.txt)
    python -m bench.fonts letters/
    cgan-train --data letters/ --out runs/letters          # the default recipe, no tuning flags
    cgan-eval runs/letters/best.pt --json letters.json

Fonts whose letters are not distinct shapes (symbol and icon fonts, which map the
letters to pictures or leave them empty) are skipped: a letter must differ from
the font's other nine letters and from an empty image.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = "ABCDEFGHIJ"
FONT_ROOT = Path("/usr/share/fonts")


def render(font_path: Path, letter: str, size: int) -> np.ndarray | None:
    """The letter drawn to fit a size x size box with a 10% margin, or None when the font cannot draw it."""
    try:
        font = ImageFont.truetype(str(font_path), size * 4)
    except OSError:
        return None
    canvas = Image.new("L", (size * 6, size * 6), 0)
    ImageDraw.Draw(canvas).text((size, size), letter, fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    scale = size * 0.8 / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS)
    image = Image.new("L", (size, size), 0)
    image.paste(glyph, ((size - glyph.width) // 2, (size - glyph.height) // 2))
    return np.asarray(image)


def font_letters(font_path: Path, size: int) -> list[np.ndarray] | None:
    """All ten letters of one font, or None when it lacks one or draws two alike."""
    images = [render(font_path, letter, size) for letter in LETTERS]
    if any(image is None for image in images):
        return None
    flat = np.stack(images).reshape(len(images), -1).astype(np.float32)
    distances = np.abs(flat[:, None] - flat[None]).mean(-1) + np.eye(len(images)) * 255
    return images if distances.min() > 8 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    fonts = sorted({p for ext in ("*.ttf", "*.otf", "*.TTF", "*.OTF") for p in FONT_ROOT.rglob(ext)})
    kept = 0
    for font_path in fonts:
        images = font_letters(font_path, args.size)
        if images is None:
            continue
        kept += 1
        for letter, image in zip(LETTERS, images):
            folder = args.out / letter
            folder.mkdir(parents=True, exist_ok=True)
            # Several packages ship fonts of one file name: the path's digest keeps each font's own image.
            digest = hashlib.sha256(str(font_path).encode()).hexdigest()[:8]
            Image.fromarray(image).save(folder / f"{font_path.stem}-{digest}.png")
    print(f"{kept} of {len(fonts)} fonts: {kept * len(LETTERS)} images of {args.size}x{args.size} in {args.out}")


if __name__ == "__main__":
    main()
