"""Compare two folders of images pixel by pixel; print the largest difference, fail beyond a bound.

Usage: python same_images.py REFERENCE_DIR OTHER_DIR [MAX_DIFF]
Every file of REFERENCE_DIR must exist in OTHER_DIR with the same size and mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(reference: Path, other: Path, bound: int) -> int:
    names = sorted(p.name for p in reference.iterdir())
    if not names or names != sorted(p.name for p in other.iterdir()):
        print(f"image sets differ: {names} against {sorted(p.name for p in other.iterdir())}")
        return 1
    worst = 0
    for name in names:
        a = np.asarray(Image.open(reference / name), dtype=np.int16)
        b = np.asarray(Image.open(other / name), dtype=np.int16)
        if a.shape != b.shape:
            print(f"{name}: shape {a.shape} against {b.shape}")
            return 1
        diff = np.abs(a - b)
        worst = max(worst, int(diff.max()))
        print(f"{name}: max pixel difference {int(diff.max())}, {int((diff > 0).sum())} of {diff.size} pixels differ")
    print(f"largest pixel difference over {len(names)} images: {worst} (of 255; allowed {bound})")
    return 0 if worst <= bound else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1))
