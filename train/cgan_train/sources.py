"""Where a labelled image set comes from: a named set or a folder, and how to shape its images.

torch-free, like `config`, so a run's options are checked (and `--help` is read)
before torch is imported; `data` loads what a `DataSource` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "data"  # where the named sets live (and are downloaded to) unless --data-dir says otherwise

# torchvision's class for each named set. MNIST-format sets share the idx files.
IDX_SOURCES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
SOURCES = (*IDX_SOURCES, "cifar10")
DEFAULT_SOURCE = "mnist"


class DataError(ValueError):
    """The data is there but unusable: the message names the file or folder and what is wrong."""


@dataclass(frozen=True)
class DataSource:
    """Where a labelled image set comes from and how to shape it; `data` is a set name or a folder path."""

    data: str = DEFAULT_SOURCE
    data_dir: Path = Path(DEFAULT_DATA_DIR)  # where torchvision's sets live (and are downloaded to)
    image_size: int | None = None  # square side to resize to; None = the images' own
    channels: int | None = None  # 1 or 3; None = the images' own
    download: bool = False
    skip_bad_images: bool = False  # folders only: skip unreadable images instead of failing

    def __post_init__(self) -> None:
        if self.image_size is not None and self.image_size < 1:
            raise DataError(f"image size must be >= 1, got {self.image_size}")
        if self.channels not in (None, 1, 3):
            raise DataError(f"channels must be 1 or 3, got {self.channels}")

    @property
    def is_folder(self) -> bool:
        return self.data not in SOURCES

    @property
    def name(self) -> str:
        """What ModelSpec.dataset records: the set's name, or the folder's name; a folder named like a set
        (photos/mnist) is recorded as 'mnist/', so nothing takes it for the set."""
        if not self.is_folder:
            return self.data
        name = Path(self.data).resolve().name
        return f"{name}/" if name in SOURCES else name

