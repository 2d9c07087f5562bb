"""A labelled folder of small colour shapes: a stand-in for someone's own images.

Each class is one shape (disc, square, triangle, ...), drawn at a random size,
position and colour on a random plain background: what varies within a class is
everything but the shape. Used by the own-data tests (tests/test_small_sets.py) and by hand
(docs/performance.md, "A few hundred colour images").

    python -m bench.shapes OUT [--classes 3] [--per-class 100] [--size 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("disc", "square", "triangle", "cross", "ring", "bar")


def draw_shape(shape: str, size: int, rng: random.Random) -> Image.Image:
    background = tuple(rng.randrange(256) for _ in range(3))
    colour = tuple(rng.randrange(256) for _ in range(3))
    while sum(abs(a - b) for a, b in zip(colour, background)) < 200:  # visible against its background
        colour = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    pen = ImageDraw.Draw(image)
    r = rng.uniform(0.22, 0.42) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "disc":
        pen.ellipse(box, fill=colour)
    elif shape == "square":
        pen.rectangle(box, fill=colour)
    elif shape == "triangle":
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif shape == "cross":
        w = r / 3
        pen.rectangle((cx - r, cy - w, cx + r, cy + w), fill=colour)
        pen.rectangle((cx - w, cy - r, cx + w, cy + r), fill=colour)
    elif shape == "ring":
        pen.ellipse(box, outline=colour, width=max(2, round(r / 3)))
    else:  # bar
        pen.rectangle((cx - r, cy - r / 4, cx + r, cy + r / 4), fill=colour)
    return image


def make_shapes(out: Path, classes: int = 3, per_class: int = 100, size: int = 32, seed: int = 0) -> Path:
    """OUT/<shape>/<i>.png for the first `classes` shapes; returns OUT."""
    if not 1 <= classes <= len(SHAPES):
        raise ValueError(f"classes must be 1 to {len(SHAPES)}, got {classes}")
    rng = random.Random(seed)
    for shape in SHAPES[:classes]:
        folder = Path(out) / shape
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_shape(shape, size, rng).save(folder / f"{i:04d}.png")
    return Path(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_shapes(args.out, args.classes, args.per_class, args.size, args.seed)
    print(f"{args.classes} x {args.per_class} images of {args.size}x{args.size} in {args.out}")


if __name__ == "__main__":
    main()
