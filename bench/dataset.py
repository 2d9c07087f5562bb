"""Labelled-set throughput: `cgan-gen --dataset`'s images/s beside generate-only images/s, in one run.

Both draw the same images (the portable noise rule, batches of 256) from the
same Generator; the set adds PNG encoding and the atomic writes on a pool of
threads, and the npz path adds one file's write. "files only" puts as many
small files in place the same way with nothing generated or encoded: where it
is slower than generating, creating files is what bounds a png set. Rounds alternate
between the paths so other jobs on the machine weigh on each alike; the
fastest round of each is reported, as `timing.Timing` does.

    .venv/bin/python -m bench.dataset [--model PATH] [--images N] [--rounds R]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cgan_runtime import Generator
from cgan_runtime.dataset import BATCH_SIZE, IO_THREADS, DatasetRequest, write_dataset
from cgan_runtime.files import commit_temps, write_temp

from .command_line import model_parser
from .machine import load


def generate_only(generator: Generator, request: DatasetRequest) -> float:
    """Seconds to draw the request's images as uint8 arrays, BATCH_SIZE at a time, and keep none."""
    labels = np.repeat(np.array(request.labels), request.per_label)
    start = time.perf_counter()
    generator.generate(labels, request.seed, batch_size=BATCH_SIZE)
    return time.perf_counter() - start


def files_only(images: int, scratch: Path) -> float:
    """Seconds to put `images` files of a digit's size in place the way the set does (temp file, one sync,
    rename), on as many threads, with nothing generated or encoded: this file system's own bound."""
    folder = scratch / "files"
    folder.mkdir()
    data = bytes(300)
    start = time.perf_counter()
    with ThreadPoolExecutor(IO_THREADS) as pool:
        pairs = list(pool.map(lambda i: (write_temp(folder / f"{i}.png", data), folder / f"{i}.png"), range(images)))
    commit_temps(pairs)
    seconds = time.perf_counter() - start
    shutil.rmtree(folder)
    return seconds


def written(generator: Generator, request: DatasetRequest, scratch: Path) -> float:
    """Seconds `write_dataset` takes for the whole request into a fresh folder (or file)."""
    target = scratch / ("set.npz" if request.image_format == "npz" else "set")
    start = time.perf_counter()
    write_dataset(generator, target, request)
    seconds = time.perf_counter() - start
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return seconds


def main() -> None:
    parser = model_parser(__doc__)
    parser.add_argument("--images", type=int, default=10_240, help="Images per round (default 10,240: 40 batches).")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    generator = Generator(args.model, provider="cpu")
    per_label = max(1, args.images // generator.num_classes)
    requests = {fmt: DatasetRequest(tuple(range(generator.num_classes)), per_label, 0, fmt) for fmt in ("png", "npz")}
    images = requests["png"].images
    best = {"generate only": float("inf"), "png set": float("inf"), "npz set": float("inf"),
            "files only (no model, no encoding)": float("inf")}
    start_load = load()["load_1min"]
    with tempfile.TemporaryDirectory(dir=".") as scratch:  # the disk the sets would go to
        for _ in range(args.rounds):
            best["generate only"] = min(best["generate only"], generate_only(generator, requests["png"]))
            best["png set"] = min(best["png set"], written(generator, requests["png"], Path(scratch)))
            best["npz set"] = min(best["npz set"], written(generator, requests["npz"], Path(scratch)))
            files = "files only (no model, no encoding)"
            best[files] = min(best[files], files_only(images, Path(scratch)))
    baseline = images / best["generate only"]
    print(f"{images:,} images of {generator.path.name}, batch {BATCH_SIZE}, {os.cpu_count()} cores, "
          f"fastest of {args.rounds} rounds; load {start_load} at start, {load()['load_1min']} at end\n")
    print("| path | images/s | share of generate-only |")
    print("|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {images / seconds:,.0f} | {images / seconds / baseline:.0%} |")


if __name__ == "__main__":
    main()
