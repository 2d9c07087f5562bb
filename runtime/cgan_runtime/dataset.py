"""Labelled training sets drawn by a generator: a folder of class folders of PNGs, or one .npz file.

Every image is a function of (seed, label, j) through the portable noise rule,
so a set is a function of its request. A folder run that was interrupted and
is started again with the same request writes only the images that are missing
and ends with exactly the set an uninterrupted run writes. The folder's
`dataset.json`, written before any image, records the request; a folder that
holds another request (or anything else) is refused rather than mixed into.
`manifest.csv`, written last, lists the set: a folder with a manifest is complete.

Each file is written atomically (`files`): PNGs are encoded with zlib alone
(`images.encode_png_plain`, small ones stored uncompressed; zlib and file I/O
release the GIL) into temp files by a pool of threads, several per core, while
the generator draws the next batch; one more thread puts them in place a few
thousand at a time, after one sync of the file system, so that even a power
cut leaves each file absent or whole.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .budget import check_disk, check_memory, request_bytes
from .files import OpenFolder, atomic_write, commit_temps, write_output
from .generator import Generator
from .images import encode_png_plain, scale, to_uint8
from .inputs import check_int, check_seed
from .noise import noise_for_occurrences

DATASET_FORMATS = ("png", "npz")
RECORD = "dataset.json"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "class_index", "class_name", "seed", "j")
BATCH_SIZE = 256  # images generated at a time
# Batches drawn ahead of the writers: creating files is the slow part on some file systems, and
# the queue keeps them busy while the generator draws (each batch is a few hundred kB).
BATCHES_IN_FLIGHT = 4
# Encoded files are put in place this many at a time, after one sync of the file system: a sync costs
# about as much as a single file's fsync, and under other writers' load can take a second, so it runs
# on a thread of its own while the next batches are drawn.
COMMIT_EVERY = 4096
# Threads that encode and write. Creating a file is the kernel's work, and sometimes a wait on the
# disk; more threads than cores keep every core busy (measured on 2 shared cores: 4 or 8 threads
# wrote a set about twice as fast as 1, 2 threads 1.5 times).
IO_THREADS = 4 * (os.cpu_count() or 1)
# Pictures of up to this many bytes of pixels are stored in their PNGs uncompressed: such a file
# (3.2 kB for 32x32 RGB) takes one 4 KiB block of disk anyway, and compressing a digit costs 21 µs
# of CPU, about a seventh of all a png set spends on it, drawing included (storing: 4 µs).
STORE_UP_TO = 32 * 32 * 3
# Class folders held open (a file descriptor each) while a set is written: more classes than this
# are reached by their paths, to stay far below any limit on a process's open files.
MAX_HELD_FOLDERS = 64
_KIND = "cgan-edge labelled set"


@dataclass(frozen=True)
class DatasetRequest:
    """What to write: `per_label` images of each of `labels` (class indices), from `seed`, enlarged `scale` times."""

    labels: tuple[int, ...]
    per_label: int
    seed: int
    image_format: str = "png"
    scale: int = 1

    def __post_init__(self) -> None:
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct and at least one, got {list(self.labels)}")
        check_int("images per label", self.per_label, minimum=1)
        check_seed(self.seed)
        check_int("scale", self.scale, minimum=1)
        if self.image_format not in DATASET_FORMATS:
            raise ValueError(f"format must be one of {', '.join(DATASET_FORMATS)}, got {self.image_format!r}")

    @property
    def images(self) -> int:
        return len(self.labels) * self.per_label


@dataclass(frozen=True)
class DatasetResult:
    path: Path
    written: int  # images written by this run
    total: int  # images in the set
    seconds: float


def dataset_format(path: str | os.PathLike[str], image_format: str | None) -> str:
    """The format a set is written in: `image_format`, else npz for a name ending in .npz, else png.

    ValueError when the two disagree: npz is one file named *.npz; png is a folder, never named so.
    """
    is_npz_name = os.fspath(path).lower().endswith(".npz")
    if image_format is None:
        return "npz" if is_npz_name else "png"
    if image_format not in DATASET_FORMATS:
        raise ValueError(f"format must be one of {', '.join(DATASET_FORMATS)}, got {image_format!r}")
    if image_format == "npz" and not is_npz_name:
        raise ValueError(f"npz writes one file: name it {os.fspath(path)}.npz")
    if image_format == "png" and is_npz_name:
        raise ValueError(f"png writes a folder of class folders: {os.fspath(path)} is named like an npz file")
    return image_format


def model_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_seed(path: str | os.PathLike[str], image_format: str) -> int | None:
    """The seed of the set already at `path`, so a continued run need not repeat it; None where there is none."""
    path = Path(path)
    if image_format == "npz":
        record = _read_npz_record(path) if path.is_file() else None
    else:
        record = _read_record(path / RECORD) if path.is_dir() else None
    return None if record is None else check_seed(record.get("seed"))


def write_dataset(
    generator: Generator, path: str | os.PathLike[str], request: DatasetRequest, workers: int | None = None
) -> DatasetResult:
    """Write (or complete) the set `request` describes at `path`; see the module's docstring.

    Raises ValueError for a request that cannot fit in memory or on disk, a
    class name that cannot be a folder's, or a `path` that holds something
    else (checked before anything is generated or written); OSError for a
    write that fails.
    """
    start = time.perf_counter()
    path = Path(path)
    record = _record(generator, request)
    if request.image_format == "npz":
        written = _write_npz(generator, path, request, record)
    else:
        written = _write_folder(generator, path, request, record, workers or IO_THREADS)
    return DatasetResult(path, written, request.images, time.perf_counter() - start)


def _record(generator: Generator, request: DatasetRequest) -> dict:
    """The request as `dataset.json` holds it: everything that decides the set's images and names."""
    channels, height, width = generator.image_shape
    return {
        "kind": _KIND,
        "model_sha256": model_sha256(generator.path),
        "seed": request.seed,
        "labels": list(request.labels),
        "per_label": request.per_label,
        "format": request.image_format,
        "scale": request.scale,
        "image_shape": [channels, height * request.scale, width * request.scale],
        "class_names": list(generator.class_names),
    }


def _picture_bytes(record: dict) -> int:
    return int(np.prod(record["image_shape"]))


def _check_memory(generator: Generator, images: int, picture_bytes: int, held: int) -> None:
    """The request's peak memory, with `held` bytes kept beyond the batches in flight."""
    at_once = min(images, (BATCHES_IN_FLIGHT + 2) * BATCH_SIZE)
    check_memory(request_bytes(images, at_once, generator.nz, generator.image_shape, picture_bytes) + held)


# --- a folder of class folders ---------------------------------------------------------------


def _write_folder(generator: Generator, folder: Path, request: DatasetRequest, record: dict, workers: int) -> int:
    names = [_folder_name(generator.class_names[label]) for label in request.labels]
    _claim(folder, record)
    labels, js = _missing(folder, request, names)
    picture_bytes = _picture_bytes(record)
    # Beyond the batches in flight: a batch enlarged by --scale and encoded, spread over the writers.
    _check_memory(generator, len(labels), picture_bytes, 2 * min(len(labels), BATCH_SIZE) * picture_bytes)
    if len(labels):
        check_disk(folder if folder.is_dir() else folder.parent, len(labels), picture_bytes)
    folder.mkdir(exist_ok=True)
    write_output(folder / RECORD, (json.dumps(record, indent=2) + "\n").encode())
    for name in names:
        (folder / name).mkdir(exist_ok=True)
        _remove_stale_temps(folder / name, name)
    _remove_stale_temps(folder, None)
    with ExitStack() as stack:
        held = len(names) <= MAX_HELD_FOLDERS
        folders = {label: stack.enter_context(OpenFolder(folder / name, descriptor=held))
                   for label, name in zip(request.labels, names)}
        _write_pngs(generator, folders, labels, js, request, workers, compress=picture_bytes > STORE_UP_TO)
    if len(labels) or not (folder / MANIFEST).is_file():
        write_output(folder / MANIFEST, _manifest(request, names))
    return len(labels)


def _folder_name(class_name: str) -> str:
    """The class's folder name, which is its name; ValueError for a name no folder can (or should) have."""
    if (not class_name or class_name in (".", "..") or class_name.startswith(".")
            or any(c in class_name for c in "/\\\0") or len(class_name.encode()) > 200):
        raise ValueError(f"class name {class_name!r} cannot be a folder name: write the set with --format npz")
    return class_name


def _file_name(name: str, j: int) -> str:
    return f"{name}_{j}.png"


def _claim(folder: Path, record: dict) -> None:
    """ValueError unless `folder` is new, empty, or holds this very request (then it is continued)."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder: a png set is a folder of class folders")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise FileNotFoundError(f"cannot write {folder}: no directory {folder.parent}")
        if not os.access(folder.parent, os.W_OK):
            raise PermissionError(f"cannot write {folder}: {folder.parent} is not writable")
        return
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write into {folder}: permission denied")
    held = _read_record(folder / RECORD)
    if held is None:
        if any(not _RECORD_TEMP.fullmatch(entry.name) for entry in folder.iterdir()):  # a kill may leave one
            raise ValueError(f"{folder} is not empty and holds no cgan-gen set: write the set to a new or empty folder")
        return
    if held != record:
        raise ValueError(f"{folder} holds another set ({_difference(held, record)}): "
                         "write this one to a new folder, or remove that one")


_RECORD_TEMP = re.compile(rf"\.{re.escape(RECORD)}\.[0-9a-f]{{8}}\.tmp")


def _read_record(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        held = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}): this folder's set cannot be continued") from None
    if not isinstance(held, dict) or held.get("kind") != _KIND:
        raise ValueError(f"{path} is not a cgan-gen set's record: write the set to a new or empty folder")
    return held


def _difference(held: dict, wanted: dict) -> str:
    """What differs, shortly: 'seed 1, not 2; per_label 10, not 20'."""

    def short(value: object) -> str:
        return value[:12] if isinstance(value, str) and len(value) == 64 else json.dumps(value)

    keys = [key for key in wanted if held.get(key) != wanted[key]]
    return "; ".join(f"{key} {short(held.get(key))}, not {short(wanted[key])}" for key in keys)


def _missing(folder: Path, request: DatasetRequest, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, js) of the images not yet in `folder`, by label then j: int64 [M] each."""
    labels, js = [], []
    for label, name in zip(request.labels, names):
        present = set(os.listdir(folder / name)) if (folder / name).is_dir() else set()
        missing = [j for j in range(request.per_label) if _file_name(name, j) not in present]
        labels += [label] * len(missing)
        js += missing
    return np.array(labels, dtype=np.int64), np.array(js, dtype=np.int64)


def _remove_stale_temps(folder: Path, name: str | None) -> None:
    """Temp files a killed run left (`files` names them .NAME.RANDOM.tmp): only ours, never the user's."""
    stem = rf"{re.escape(name)}_\d+\.png" if name is not None else rf"(?:{re.escape(RECORD)}|{re.escape(MANIFEST)})"
    pattern = re.compile(rf"\.{stem}\.[0-9a-f]{{8}}\.tmp")
    for entry in os.listdir(folder):
        if pattern.fullmatch(entry) and (folder / entry).is_file():
            (folder / entry).unlink(missing_ok=True)


def _parts(count: int, workers: int) -> list[slice]:
    step = max(1, -(-count // workers))
    return [slice(start, start + step) for start in range(0, count, step)]


def _write_pngs(generator: Generator, folders: dict[int, OpenFolder], labels: np.ndarray, js: np.ndarray,
                request: DatasetRequest, workers: int, compress: bool) -> None:
    """Draw the images (label, j) and put each in its class folder: drawn here, encoded and written
    as temp files by `workers` threads, put in place COMMIT_EVERY at a time by one more thread."""
    encoded: list[tuple[OpenFolder, str, str]] = []  # (folder, temp, name) awaiting their commit
    in_flight: deque[Future[list[tuple[OpenFolder, str, str]]]] = deque()  # parts of the batches being written
    commit: Future[None] | None = None  # the commit under way, while the next batches are drawn
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cgan-dataset") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="cgan-dataset-commit") as committer:
        try:
            for start in range(0, len(labels), BATCH_SIZE):
                batch_labels, batch_js = labels[start : start + BATCH_SIZE], js[start : start + BATCH_SIZE]
                noise = noise_for_occurrences(batch_labels, batch_js, generator.nz, request.seed)
                images = generator.generate(batch_labels, noise=noise)
                targets = [(folders[label], _file_name(folders[label].path.name, j))
                           for label, j in zip(batch_labels.tolist(), batch_js.tolist())]
                in_flight += [pool.submit(_encode_pngs, targets[part], images[part], request.scale, compress)
                              for part in _parts(len(targets), workers)]
                while len(in_flight) > BATCHES_IN_FLIGHT * workers:  # the writers keep a few batches queued
                    encoded += in_flight.popleft().result()
                if len(encoded) >= COMMIT_EVERY:
                    if commit is not None:
                        commit.result()
                    commit, encoded = committer.submit(commit_temps, encoded), []
            while in_flight:
                encoded += in_flight.popleft().result()
            if commit is not None:
                commit.result()
            commit_temps(encoded)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            committer.shutdown(wait=True)  # a commit under way ends whole, or removes its own temp files
            for future in in_flight:  # encoded but never put in place
                if future.done() and not future.cancelled() and future.exception() is None:
                    encoded += future.result()
            for open_folder, tmp, _ in encoded:
                open_folder.remove(tmp)
            raise


def _encode_pngs(targets: Sequence[tuple[OpenFolder, str]], images: np.ndarray, factor: int,
                 compress: bool) -> list[tuple[OpenFolder, str, str]]:
    """Each image encoded into a temp file beside its destination: (folder, temp, name) for `commit_temps`."""
    written = []
    try:
        for (folder, name), image in zip(targets, images):
            picture = scale(image, factor) if factor > 1 else image
            written.append((folder, folder.write_temp(name, encode_png_plain(picture, compress)), name))
    except BaseException:
        for folder, tmp, _ in written:
            folder.remove(tmp)
        raise
    return written


def _manifest(request: DatasetRequest, names: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for label, name in zip(request.labels, names):
        for j in range(request.per_label):
            writer.writerow((f"{name}/{_file_name(name, j)}", label, name, request.seed, j))
    return out.getvalue().encode()


# --- one .npz file -----------------------------------------------------------------------------


def _write_npz(generator: Generator, path: Path, request: DatasetRequest, record: dict) -> int:
    """All images in one file, written atomically at the end: an interrupted run leaves nothing to continue."""
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if path.exists():
        held = _read_npz_record(path)
        if held == record:
            return 0
        raise ValueError(f"{path} holds another set ({_difference(held, record)}): "
                         "write this one to a new file, or remove that one")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: no directory {path.parent}")
    picture_bytes = _picture_bytes(record)
    total = request.images * picture_bytes
    _check_memory(generator, request.images, picture_bytes, 2 * total)  # the set, and its copy as a file
    check_disk(path.parent, 1, total + 4096 * (len(record["class_names"]) + 8))
    labels = np.repeat(np.array(request.labels, dtype=np.int64), request.per_label)
    js = np.tile(np.arange(request.per_label, dtype=np.int64), len(request.labels))
    images = np.empty((request.images, *record["image_shape"]), dtype=np.uint8)
    for start in range(0, len(labels), BATCH_SIZE):
        batch = slice(start, start + BATCH_SIZE)
        noise = noise_for_occurrences(labels[batch], js[batch], generator.nz, request.seed)
        raw = generator.generate_raw(labels[batch], noise=noise)
        images[batch] = _nchw_uint8(raw, generator, request.scale)
    arrays = {
        "images": images,
        "labels": labels,
        "j": js,
        "class_names": np.array(record["class_names"], dtype=str),
        "seed": np.int64(request.seed),
        "model_sha256": np.array(record["model_sha256"]),
        "record": np.array(json.dumps(record)),
    }
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return request.images


def _nchw_uint8(raw: np.ndarray, generator: Generator, factor: int) -> np.ndarray:
    """float [N, C, H, W] model output -> uint8 [N, C, H*factor, W*factor], as the PNGs hold it."""
    pixels = to_uint8(raw, generator.spec.output_range)
    pixels = pixels[..., None] if pixels.ndim == 3 else pixels
    pixels = pixels.transpose(0, 3, 1, 2)
    return pixels.repeat(factor, axis=2).repeat(factor, axis=3) if factor > 1 else pixels


def _read_npz_record(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as held:
            record = json.loads(str(held["record"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} exists and is not a cgan-gen set ({exc}): write the set to a new file") from None
    if not isinstance(record, dict) or record.get("kind") != _KIND:
        raise ValueError(f"{path} exists and is not a cgan-gen set: write the set to a new file")
    return record
