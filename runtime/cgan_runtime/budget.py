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
_BLOCK = 4096  # the least space a file takes on common file systems
_FILE_OVERHEAD = 1024  # headers and chunks an encoder adds beyond the pixels, generously


def check_picture(height: int, width: int, image_format: str) -> None:
    """ValueError when one picture of height x width is more than `image_format` or a viewer takes."""
    side = MAX_SIDE[image_format]
    if max(height, width) > side:
        raise ValueError(f"the picture would be {width} x {height} pixels: {image_format} stores at most {side} a side")
    if height * width > MAX_PICTURE_PIXELS:
        raise ValueError(
            f"the picture would be {width} x {height} = {height * width:,} pixels, more than the {MAX_PICTURE_PIXELS:,} allowed"
        )


# Bytes per class weight of an image in flight: the float64 rows a morph or mix builds, their
# float64 copy and quotient while checked (`mixing.as_weights`), the float32 fed to the model.
WEIGHT_BYTES = 32
# What any request takes beside its images: the parsed command, the model's metadata, the feeds
# of one run, Pillow's encoder state, first-use imports. Measured well under 1 MiB; 8 is headroom.
REQUEST_OVERHEAD = 8 << 20


def request_bytes(
    images: int, at_once: int, nz: int, image_shape: tuple[int, int, int], picture_bytes: int, classes: int = 0
) -> int:
    """Peak memory of a request for `images` images generated `at_once` at a time, written one picture at a time.

    Every image's label is known up front; its noise (and, for a mix or a
    morph, its `classes` weights) is drawn with its batch. Per image in
    flight: the noise, the weights, the float32 output, two float32
    temporaries of the uint8 conversion, the uint8 pixels. The picture being
    written: itself, the intermediate of the enlargement, the encoded file.
    """
    channels, height, width = image_shape
    pixels = channels * height * width
    per_image = 4 * nz + WEIGHT_BYTES * classes + 3 * 4 * pixels + pixels
    return REQUEST_OVERHEAD + images * 8 + at_once * per_image + 3 * picture_bytes


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
            f"this request needs about {readable_size(needed)} of memory, more than the {readable_size(limit)} allowed "
            "(half this machine's): ask for fewer images or a smaller --scale"
        )


def available_memory() -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable), or None where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def readable_size(size: int) -> str:
    """Bytes in the largest unit that keeps the figure at least 1, what every size in a message reads as:
    '512 bytes', '3.2 MiB', '38.0 GiB'."""
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:,.1f} {unit}"
    raise AssertionError("unreachable")


def free_space(folder: str | os.PathLike[str]) -> tuple[int, int]:
    """(bytes, inodes) free to an unprivileged user on `folder`'s file system; 0 inodes where it does not count them."""
    if hasattr(os, "statvfs"):
        # What shutil.disk_usage reads on POSIX, without importing shutil (with bz2 and lzma: 2 ms of a cold start).
        stats = os.statvfs(folder)
        return stats.f_bavail * stats.f_frsize, stats.f_favail
    import shutil  # Windows: no statvfs, and no inode count

    return shutil.disk_usage(folder).free, 0


def check_disk(folder: str | os.PathLike[str], files: int, picture_bytes: int) -> None:
    """ValueError naming the figures when `files` files of up to `picture_bytes` pixels cannot fit in `folder`.

    Each file is counted at its raw size plus headers (compression only
    shrinks digits, but noise does not compress), and at least one block.
    """
    needed = files * max(_BLOCK, picture_bytes + _FILE_OVERHEAD)
    free, inodes = free_space(folder)
    if needed > free:
        raise ValueError(
            f"{files:,} files may need {readable_size(needed)} of disk, and {folder} has {readable_size(free)} free: ask for fewer images"
        )
    if 0 < inodes < files:  # 0: the file system does not count them
        raise ValueError(f"{files:,} files are more than the {inodes:,} that {folder} can still hold")
