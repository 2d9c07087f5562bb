"""Labelled-set throughput: `cgan-gen --dataset`'s images/s beside generate-only images/s, in one run.

Both draw the same images (the portable noise rule, batches of 256) from the
same Generator; the png set adds encoding and the atomic writes on a pool of
threads, and the npz set adds one file's write. "files only" puts as many
digit-sized files in place the png set's way (temp file, one sync, link) on
as many threads, with nothing generated or encoded: this file system's own
bound. Rounds alternate between the paths so other jobs on the machine weigh
on each alike; the fastest round of each is reported, as `timing.Timing`
does, with the CPU time the process spent per image in that round. A quiet
moment can favour one path's fastest round, so each path's share of the
same round's generate-only is also reported, the median over the rounds.

Every round writes to a new folder and nothing is deleted until the end: on
ext4 without a journal, a file created within minutes of many deletions
nearby costs up to a millisecond (the kernel steps over each recently freed
inode), so removing one round's set would slow the next round's. For the
same reason the end's clean-up slows a run started within minutes of it.

A second table splits a png set's work per image into its stages, each run
alone on one thread (CPU time, fastest round): drawing, encoding, creating
and writing the temp files, the sync and links, the manifest, and the scan
a continued run makes for what is missing (and its manifest).

    .venv/bin/python -m bench.dataset [--model PATH] [--images N] [--rounds R]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from cgan_runtime import Generator
from cgan_runtime.dataset import BATCH_SIZE, IO_THREADS, MANIFEST, STORE_UP_TO, DatasetRequest, write_dataset
from cgan_runtime.files import OpenFolder, commit_temps
from cgan_runtime.images import encode_png, encode_png_plain
from cgan_runtime.noise import noise_for_occurrences

from .command_line import model_parser
from .machine import load

DIGIT_PNG_BYTES = 330  # about what a 28x28 digit's PNG holds
GENERATE_ONLY = "generate only (uint8 arrays, nothing kept)"
PNG_SET = "png set: `--dataset DIR`"


def generate_only(generator: Generator, request: DatasetRequest) -> None:
    """Draw the request's images as uint8 arrays, BATCH_SIZE at a time, and keep none."""
    labels = np.repeat(np.array(request.labels), request.per_label)
    generator.generate(labels, request.seed, batch_size=BATCH_SIZE)


def files_only(images: int, target: Path) -> None:
    """Put `images` digit-sized files in place in `target` the way the png set does, on as many threads."""
    target.mkdir()
    data = bytes(DIGIT_PNG_BYTES)
    with OpenFolder(target) as folder, ThreadPoolExecutor(IO_THREADS) as pool:
        names = [f"{i}.png" for i in range(images)]
        commit_temps(list(pool.map(lambda name: (folder, folder.write_temp(name, data), name), names)))


def stages(generator: Generator, request: DatasetRequest, scratch: Path, complete: Path) -> dict[str, float]:
    """CPU seconds of each stage of a png set, one after the other on this thread, into a new folder;
    `complete` holds the whole set already, to be continued."""
    labels = np.repeat(np.array(request.labels), request.per_label)
    js = np.tile(np.arange(request.per_label), len(request.labels))
    names = [generator.class_names[label] for label in request.labels]
    folder = scratch / "set"
    for name in names:
        (folder / name).mkdir(parents=True)
    seconds: dict[str, float] = {}

    def stage(name: str, work: Callable[[], object]) -> object:
        cpu = time.process_time()
        result = work()
        seconds[name] = time.process_time() - cpu
        return result

    images = stage(f"draw (noise and model, batches of {BATCH_SIZE})", lambda: np.concatenate([
        generator.generate(labels[start : start + BATCH_SIZE], noise=noise_for_occurrences(
            labels[start : start + BATCH_SIZE], js[start : start + BATCH_SIZE], generator.nz, request.seed))
        for start in range(0, len(labels), BATCH_SIZE)]))
    compress = int(np.prod(generator.image_shape)) > STORE_UP_TO  # as the set decides
    pngs = stage(f"encode (images.encode_png_plain, {'compressed' if compress else 'stored'}, as the set does)",
                 lambda: [encode_png_plain(image, compress) for image in images])
    stage(f"encode {'stored' if compress else 'compressed'} instead (not used)",
          lambda: [encode_png_plain(image, not compress) for image in images])
    stage("encode with Pillow instead (images.encode_png, not used)", lambda: [encode_png(image) for image in images])
    with ExitStack() as stack:
        folders = [stack.enter_context(OpenFolder(folder / name)) for name in names]
        written = stage("temp files: create, write, close", lambda: [
            (folders[index], folders[index].write_temp(f"{names[index]}_{j}.png", data), f"{names[index]}_{j}.png")
            for index, j, data in zip(np.repeat(np.arange(len(names)), request.per_label).tolist(), js.tolist(), pngs)])
        stage("one sync, each file linked to its name and its temp name removed, one fsync per folder",
              lambda: commit_temps(written))
    stage("continuing a complete set: checks and the scan for missing images",
          lambda: write_dataset(generator, complete, request))
    (complete / MANIFEST).unlink()
    stage("the same, writing the manifest", lambda: write_dataset(generator, complete, request))
    return seconds


def timed(run: Callable[[Path], None], target: Path) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of `run(target)`."""
    cpu, start = time.process_time(), time.perf_counter()
    run(target)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = model_parser(__doc__)
    parser.add_argument("--images", type=int, default=10_240, help="Images per round (default 10,240: 40 batches).")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    generator = Generator(args.model, provider="cpu")
    per_label = max(1, args.images // generator.num_classes)
    requests = {fmt: DatasetRequest(tuple(range(generator.num_classes)), per_label, 0, fmt) for fmt in ("png", "npz")}
    images = requests["png"].images
    def png_set(target: Path) -> None:
        write_dataset(generator, target, requests["png"])

    def npz_set(target: Path) -> None:
        write_dataset(generator, target.with_suffix(".npz"), requests["npz"])

    paths: dict[str, Callable[[Path], None]] = {
        GENERATE_ONLY: lambda target: generate_only(generator, requests["png"]),
        PNG_SET: png_set,
        "npz set: `--dataset DIR.npz`": npz_set,
        "files only: as many files put in place the png set's way, nothing generated or encoded":
            lambda target: files_only(images, target),
    }
    best: dict[str, tuple[float, float]] = {name: (float("inf"), 0.0) for name in paths}
    shares: dict[str, list[float]] = {}  # each round's seconds, for its share of that round's generate-only
    stage_seconds: dict[str, float] = {}
    start_load = load()["load_1min"]
    with tempfile.TemporaryDirectory(dir=".") as scratch:  # the disk the sets would go to
        for round_ in range(args.rounds):
            for index, (name, run) in enumerate(paths.items()):
                result = timed(run, Path(scratch) / f"{round_}-{index}")
                best[name] = min(best[name], result)
                shares.setdefault(name, []).append(result[0])
            png_set_written = Path(scratch) / f"{round_}-{list(paths).index(PNG_SET)}"
            for name, seconds in stages(generator, requests["png"], Path(scratch) / f"{round_}-stages",
                                        png_set_written).items():
                stage_seconds[name] = min(stage_seconds.get(name, float("inf")), seconds)
    end_load = load()["load_1min"]
    baseline = images / best[GENERATE_ONLY][0]
    print(f"{images:,} images of {generator.path.name}, batch {BATCH_SIZE}, {os.cpu_count()} cores, "
          f"{IO_THREADS} writer threads, fastest of {args.rounds} rounds; "
          f"load {start_load} at start, {end_load} at end\n")
    print("| path | images/s | share of generate-only | median of the rounds' shares | CPU µs per image |")
    print("|---|---:|---:|---:|---:|")
    for name, (seconds, cpu) in best.items():
        median = statistics.median(g / t for g, t in zip(shares[GENERATE_ONLY], shares[name]))
        print(f"| {name} | {images / seconds:,.0f} | {images / seconds / baseline:.0%} | {median:.0%} "
              f"| {cpu / images * 1e6:,.0f} |")
    print("\n| png set's stage, alone on one thread | CPU µs per image |")
    print("|---|---:|")
    for name, seconds in stage_seconds.items():
        print(f"| {name} | {seconds / images * 1e6:,.1f} |")


if __name__ == "__main__":
    main()
