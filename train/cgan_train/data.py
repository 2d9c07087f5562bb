"""Labelled image sets as uint8 tensors [N, C, H, W]: MNIST, torchvision's small sets, or a folder.

Every source is decoded (and resized) once and held whole in memory, so
training indexes a tensor instead of running a DataLoader per sample. Problems
with the data are found here, before any run folder exists: library errors are
`DataError` (a ValueError: bad data, exit 2 in the CLIs) and FileNotFoundError
(a set that is absent); a failed download is an OSError.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cgan_runtime.budget import available_memory, readable_size
from cgan_runtime.contract import MNIST_CLASS_NAMES

from .sources import IDX_SOURCES, SOURCES, DataError, DataSource

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
# A folder's evaluation holds out every HELD_OUT_EVERY-th image of each class (in name order).
HELD_OUT_EVERY = 10
# Leave this much of the available memory to everything else (decoding, the model, the OS).
MEMORY_HEADROOM = 0.5


@dataclass(frozen=True)
class LabelledImages:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    class_names: tuple[str, ...]
    dataset: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor | slice) -> LabelledImages:
        return LabelledImages(self.images[index], self.labels[index], self.class_names, self.dataset)

    def first(self, n: int) -> LabelledImages:
        """The first n images, taking the classes in turn (a folder lists class by class: its first n
        images alone could all be of one class)."""
        rank = torch.empty_like(self.labels)  # each image's position within its class
        for c in range(self.num_classes):
            index = (self.labels == c).nonzero().squeeze(1)
            rank[index] = torch.arange(len(index))
        order = torch.sort(rank * self.num_classes + self.labels, stable=True).indices
        return self.subset(order[:n])


def load_data(source: DataSource, train: bool = True) -> LabelledImages:
    """The set's training split (`train`) or its test split; a folder has one set, returned whole.

    A folder's evaluation split is carved out by `evaluation_splits`.
    """
    if source.data in IDX_SOURCES:
        images, labels, names = _load_idx_set(source, train)
    elif source.data == "cifar10":
        images, labels, names = _load_cifar10(source, train)
    else:
        return _load_folder(source)
    return _reshape(LabelledImages(images, labels, names, source.name), source, source.data)


def data_fingerprint(source: DataSource) -> str:
    """What a run trained on, cheaply: a folder's image files, their sizes and modification times
    ("384 images, sha256 1f0c..."); "" for a named set, which does not change."""
    if not source.is_folder:
        return ""
    root = Path(source.data)
    files, labels, names = _scan_folder(root)
    digest = hashlib.sha256()
    for path, label in zip(files, labels):
        info = path.stat()
        digest.update(f"{names[label]}/{path.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return f"{len(files)} images, sha256 {digest.hexdigest()[:16]}"


def canonical_data(data: str) -> str:
    """What a run records as its --data: a set's name, or a folder's absolute path, so `photos`,
    `./photos/` and the full path are the same data, and --resume finds it from any folder."""
    return data if data in SOURCES else str(Path(data).resolve())


def evaluation_splits(source: DataSource, loaded: LabelledImages | None = None,
                      ) -> tuple[LabelledImages, LabelledImages, str]:
    """(classifier training set, test set, how the test set was chosen) for evaluating on this data.

    `loaded`: `load_data(source)`, when the caller has already read it (a training run).
    """
    loaded = load_data(source) if loaded is None else loaded
    if not source.is_folder:
        return loaded, load_data(source, train=False), f"the {source.data} test split"
    return held_out_split(loaded)


def held_out_split(data: LabelledImages) -> tuple[LabelledImages, LabelledImages, str]:
    """Hold out every HELD_OUT_EVERY-th image of each class (at least 2) for testing; the rest trains."""
    test = torch.zeros(len(data), dtype=torch.bool)
    for c, name in enumerate(data.class_names):
        index = (data.labels == c).nonzero().squeeze(1)
        if len(index) < 4:
            raise DataError(f"class '{name}' has {len(index)} images: evaluation needs at least 4 per class "
                            "(2 to test, 2 to compare); add images or train with --no-eval")
        count = max(2, len(index) // HELD_OUT_EVERY)
        test[index[torch.linspace(0, len(index) - 1, count).round().long()]] = True
    note = (f"held out: {int(test.sum()):,} of {len(data):,} images "
            f"(every {HELD_OUT_EVERY}th of each class in file-name order, at least 2)")
    return data.subset(~test), data.subset(test), note


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float [N, C, H, W] in [-1, 1], the generator's output range."""
    return images.float().div(127.5).sub(1.0)


def memory_needed(n: int, shape: tuple[int, int, int]) -> int:
    """Bytes to hold n uint8 images of shape (C, H, W): N*C*H*W."""
    return n * math.prod(shape)


def check_fits(nbytes: int, device: torch.device | str = "cpu", what: str = "the data set") -> None:
    """Raise MemoryError, before allocating, when `nbytes` will not fit in the device's free memory."""
    free, where = free_memory(device)
    if free is not None and nbytes > MEMORY_HEADROOM * free:
        raise MemoryError(f"{what} needs {readable_size(nbytes)} but only {readable_size(free)} of {where} is there "
                        f"(at most {MEMORY_HEADROOM:.0%} of it is used for data): use --image-size or fewer images")


def free_memory(device: torch.device | str) -> tuple[int | None, str]:
    """(bytes free on `device`, or None when the machine does not say; how to name that memory)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0], f"free GPU memory on {device}"
    return available_memory(), "available memory"


# --- torchvision's sets ------------------------------------------------------------


def _download(source: DataSource, folder: str, train: bool) -> None:
    """Fetch a torchvision set into data_dir; folders this call created are removed if it fails."""
    from torchvision import datasets  # heavy import, only where data is fetched

    cls = getattr(datasets, "CIFAR10" if source.data == "cifar10" else IDX_SOURCES[source.data])
    root = Path(source.data_dir)
    created = [p for p in (root, root / folder, root / folder / "raw") if not p.exists()]
    try:
        cls(root=str(root), train=train, download=True)
    except BaseException as exc:
        for path in reversed(created):  # only what this call made: never a user's folder
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(exc, (OSError, RuntimeError)):
            # torchvision puts each mirror's failure on its own lines: keep them all, on one.
            reason = " ".join(str(exc).split())
            raise OSError(f"cannot download {source.data} into {root}: {reason}") from None
        raise


def _load_idx_set(source: DataSource, train: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    folder = IDX_SOURCES[source.data]
    raw = Path(source.data_dir) / folder / "raw"
    prefix = "train" if train else "t10k"
    images_path, labels_path = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    if not (images_path.is_file() and labels_path.is_file()):
        if not source.download:
            raise FileNotFoundError(
                f"{folder} not found in {source.data_dir} (expected {raw}/{{train,t10k}}-"
                "{images-idx3,labels-idx1}-ubyte); drop --no-download to fetch it")
        _download(source, folder, train)
    images = _read_idx(images_path, magic=2051, dims=3)
    labels = _read_idx(labels_path, magic=2049, dims=1).long()
    if len(labels) != len(images):
        raise DataError(f"corrupt {source.data} file {labels_path}: {len(labels)} labels for {len(images)} images")
    if source.data == "mnist":
        names = MNIST_CLASS_NAMES
    else:
        from torchvision import datasets

        names = tuple(getattr(datasets, folder).classes)
    if len(labels) and int(labels.max()) >= len(names):
        raise DataError(f"corrupt {source.data} file {labels_path}: label {int(labels.max())} "
                        f"(the set has {len(names)} classes)")
    return images.unsqueeze(1), labels, names


def _read_idx(path: Path, magic: int, dims: int) -> torch.Tensor:
    """An idx file (uint8 data) checked byte by byte: magic number, sizes, length."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"corrupt idx file {path}: {len(data)} bytes, shorter than its {header}-byte header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"corrupt idx file {path}: magic number {found:#010x}, expected {magic:#010x}")
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    expected = header + math.prod(shape)
    if len(data) != expected or (dims == 3 and min(shape[1:]) < 1):
        raise DataError(f"corrupt idx file {path}: {len(data)} bytes, expected {expected} for shape {shape}")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).view(*shape)


def _load_cifar10(source: DataSource, train: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    from torchvision.datasets import CIFAR10

    root = Path(source.data_dir)
    try:
        dataset = CIFAR10(root=str(root), train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted" (it checks every file's md5)
        if not source.download:
            raise FileNotFoundError(f"cifar10 not found (or corrupted) in {root} (expected "
                                    f"{root}/cifar-10-batches-py); drop --no-download to fetch it") from None
        _download(source, "cifar-10-batches-py", train)
        dataset = CIFAR10(root=str(root), train=train, download=False)
    images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(dataset.targets, dtype=torch.long), tuple(dataset.classes)


def _reshape(data: LabelledImages, source: DataSource, where: str) -> LabelledImages:
    """Apply --image-size/--channels to a set that came as tensors (resize with Pillow, like folders)."""
    c, h, w = data.image_shape
    size = source.image_size or h
    channels = source.channels or c
    if (channels, size, size) == (c, h, w):
        return data
    check_fits(memory_needed(len(data), (channels, size, size)), "cpu", f"{where} at {channels}x{size}x{size}")
    from PIL import Image

    out = np.empty((len(data), size, size, channels), dtype=np.uint8)
    mode = "L" if c == 1 else "RGB"
    for i, image in enumerate(data.images.permute(0, 2, 3, 1).numpy()):
        picture = Image.fromarray(image[..., 0] if c == 1 else image, mode)
        out[i] = _fit_picture(picture, size, channels)
    return LabelledImages(torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), data.labels,
                          data.class_names, data.dataset)


# --- a folder of class folders -------------------------------------------------------


def _load_folder(source: DataSource) -> LabelledImages:
    root = Path(source.data)
    files, labels, names = _scan_folder(root)
    sizes, modes, bad = _read_headers(files, source.skip_bad_images)
    keep = [i for i in range(len(files)) if i not in bad]
    files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    sizes, modes = [sizes[i] for i in keep], [modes[i] for i in keep]
    _check_classes_kept(root, names, labels)  # before sizing: skipping may have left no images at all
    size = source.image_size or _common_size(root, files, sizes)
    channels = source.channels or (1 if all(m in GREY_MODES for m in modes) else 3)
    check_fits(memory_needed(len(files), (channels, size, size)), "cpu",
               f"{root}: {len(files):,} images at {channels}x{size}x{size}")

    from PIL import Image

    out = np.empty((len(files), size, size, channels), dtype=np.uint8)
    ok = np.ones(len(files), dtype=bool)
    for i, path in enumerate(files):
        try:
            with _quiet_pillow(), Image.open(path) as picture:
                out[i] = _fit_picture(picture, size, channels)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if not source.skip_bad_images:
                raise DataError(f"cannot read image {path}: {exc} (--skip-bad-images skips such files)") from None
            ok[i] = False
    skipped = len(bad) + int((~ok).sum())
    if skipped:
        print(f"skipped {skipped} unreadable image(s) in {root}", file=sys.stderr, flush=True)
    label_tensor = torch.tensor(labels, dtype=torch.long)[torch.from_numpy(ok)]
    _check_classes_kept(root, names, label_tensor.tolist())
    images = torch.from_numpy(out[ok]).permute(0, 3, 1, 2).contiguous()
    return LabelledImages(images, label_tensor, names, source.name)


def _check_classes_kept(root: Path, names: tuple[str, ...], labels: list[int]) -> None:
    """Refuse a class that skipping unreadable images has emptied."""
    kept = set(labels)
    for c, name in enumerate(names):
        if c not in kept:
            raise DataError(f"class folder {root / name} has no readable images")


def _scan_folder(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image files and labels of DIR/<class>/*, class folders in name order, files in name order."""
    if not root.is_dir():
        known = ", ".join(SOURCES)
        raise FileNotFoundError(f"--data {root}: neither a data set ({known}) nor a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class folders (expected {root}/<class name>/<image files>)")
    if len(classes) < 2:
        raise DataError(f"{root} has one class folder ({classes[0].name}); a conditional GAN needs at least 2")
    files, labels = [], []
    for c, folder in enumerate(classes):
        images = sorted(p for p in folder.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not images:
            raise DataError(f"class folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files += images
        labels += [c] * len(images)
    return files, labels, tuple(p.name for p in classes)


def _read_headers(files: list[Path], skip_bad: bool) -> tuple[list, list, set[int]]:
    """Size and mode of every image from its header (cheap), so memory is known before decoding."""
    from PIL import Image

    sizes, modes, bad = [], [], set()
    for i, path in enumerate(files):
        try:
            with _quiet_pillow(), Image.open(path) as picture:
                sizes.append(picture.size)
                modes.append(picture.mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if not skip_bad:
                raise DataError(f"cannot read image {path}: {exc} (--skip-bad-images skips such files)") from None
            sizes.append(None)
            modes.append(None)
            bad.add(i)
    return sizes, modes, bad


def _common_size(root: Path, files: list[Path], sizes: list[tuple[int, int]]) -> int:
    first = sizes[0]
    for path, size in zip(files, sizes):
        if size != first:
            raise DataError(f"images in {root} differ in size ({files[0].name}: {first[0]}x{first[1]}, "
                            f"{path.relative_to(root)}: {size[0]}x{size[1]}); pass --image-size to resize them")
    if first[0] != first[1]:
        raise DataError(f"images in {root} are {first[0]}x{first[1]}, not square; "
                        "pass --image-size to crop and resize them")
    return first[0]


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Pillow's two-line DecompressionBombWarning silenced: the memory check speaks for large images."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


# Modes whose values go beyond 0..255, and the value each calls full scale: 16-bit grey (PNG,
# TIFF; Pillow opens 16-bit PNGs as "I"), floats in [0, 1]. Pillow's own convert("L") clips
# them at 255, which turns every 16-bit picture white and every float one black.
_FULL_SCALE = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}


def _to_8bit(picture):
    """A picture whose values exceed 8 bits as 8-bit grey ("L"), scaled from its full scale; others as they are."""
    from PIL import Image

    full_scale = _FULL_SCALE.get(picture.mode)
    if full_scale is None:
        return picture
    values = np.asarray(picture, dtype=np.float64)
    if picture.mode == "F" and values.size and np.nanmax(values) > 1.0:
        full_scale = 255.0  # floats already on the 8-bit scale
    scaled = np.clip(np.nan_to_num(values) * (255.0 / full_scale), 0, 255)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), "L")


def _fit_picture(picture, size: int, channels: int) -> np.ndarray:
    """[size, size, channels] uint8: centre-cropped to a square, resized with Lanczos (antialiased)."""
    from PIL import Image

    picture = _to_8bit(picture).convert("L" if channels == 1 else "RGB")
    w, h = picture.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        picture = picture.crop((left, top, left + side, top + side))
    if picture.size != (size, size):
        picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(picture, dtype=np.uint8)
    return array[..., None] if channels == 1 else array
