"""Data sources: MNIST byte for byte, torchvision's sets, folders of class folders, and every bad-data case."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from cgan_train import data as data_module  # noqa: E402
from cgan_train.data import (  # noqa: E402
    DataError,
    DataSource,
    check_fits,
    held_out_split,
    load_data,
    memory_needed,
)

from support import MNIST_DIR  # noqa: E402

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "MNIST" / "raw").is_dir(), reason=f"no MNIST at {MNIST_DIR}")


@needs_mnist
def test_mnist_is_torchvisions_tensors_byte_for_byte(mnist_splits):
    from torchvision.datasets import MNIST

    for split, ours in zip((True, False), mnist_splits):
        theirs = MNIST(str(MNIST_DIR), train=split)
        assert ours.images.dtype == torch.uint8 and ours.images.shape == (len(theirs.data), 1, 28, 28)
        assert torch.equal(ours.images[:, 0], theirs.data) and torch.equal(ours.labels, theirs.targets)
    assert mnist_splits[0].class_names == tuple("0123456789") and mnist_splits[0].dataset == "mnist"


@needs_mnist
def test_mnist_written_as_a_folder_of_pngs_gives_the_same_training_tensors(mnist_splits, tmp_path):
    mnist = mnist_splits[0].subset(slice(None, 300))
    for i, (image, label) in enumerate(zip(mnist.images, mnist.labels.tolist())):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        Image.fromarray(image[0].numpy(), "L").save(tmp_path / str(label) / f"{i:05d}.png")
    folder = load_data(DataSource(str(tmp_path)))
    # A folder lists class by class, files in name order: MNIST's order, sorted stably by label.
    order = torch.sort(mnist.labels, stable=True).indices
    assert folder.class_names == mnist.class_names
    assert torch.equal(folder.images, mnist.images[order]) and torch.equal(folder.labels, mnist.labels[order])


def test_a_colour_folder_keeps_its_own_size_and_channels(tmp_path, colour_folder):
    data = load_data(DataSource(str(colour_folder(tmp_path / "pets"))))
    assert data.images.dtype == torch.uint8 and data.images.shape == (24, 3, 16, 16)
    assert data.class_names == ("cat", "dog", "owl") and data.dataset == "pets"
    assert data.labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    red = data.images[0].float().mean((1, 2))
    assert red[0] > 150 > 80 > red[1]  # channels in RGB order


def test_image_size_and_channels_resize_and_convert(tmp_path, colour_folder):
    root = colour_folder(tmp_path / "pets")
    data = load_data(DataSource(str(root), image_size=28, channels=1))
    assert data.images.shape == (24, 1, 28, 28)
    grey = np.asarray(Image.open(root / "cat" / "000.png").convert("L").resize((28, 28), Image.Resampling.LANCZOS))
    assert np.array_equal(data.images[0, 0].numpy(), grey)


def test_non_square_images_are_centre_cropped_when_a_size_is_given(tmp_path):
    for name, value in (("a", 50), ("b", 200)):
        (tmp_path / name).mkdir()
        pixels = np.full((10, 30), value, np.uint8)
        pixels[:, :10] = 255 - value  # a left band the centre crop removes
        Image.fromarray(pixels, "L").save(tmp_path / name / "x.png")
    data = load_data(DataSource(str(tmp_path), image_size=10))
    assert data.images.shape == (2, 1, 10, 10)
    assert data.images[0].unique().tolist() == [50] and data.images[1].unique().tolist() == [200]


def test_grey_tensor_sets_can_be_resized_and_made_rgb(monkeypatch, tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw", "train", n=6)
    data = load_data(DataSource("mnist", tmp_path, image_size=32, channels=3))
    assert data.images.shape == (6, 3, 32, 32)
    assert torch.equal(data.images[:, 0], data.images[:, 1])


def test_held_out_split_keeps_every_tenth_image_of_each_class_and_at_least_two(tmp_path, colour_folder):
    data = load_data(DataSource(str(colour_folder(tmp_path / "pets", per_class=30))))
    train, test, note = held_out_split(data)
    assert torch.bincount(test.labels).tolist() == [3, 3, 3] and len(train) == 81
    assert note.startswith("held out: 9 of 90 images")
    small_train, small_test, _ = held_out_split(data.subset(torch.arange(90) % 30 < 5))
    assert torch.bincount(small_test.labels).tolist() == [2, 2, 2] and len(small_train) == 9
    with pytest.raises(DataError, match="class 'cat' has 3 images"):
        held_out_split(data.subset(torch.arange(90) % 30 < 3))


# --- bad data: one DataError (or FileNotFoundError) naming the file or folder ----------


def test_a_folder_without_class_folders_is_refused(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=f"{tmp_path} has no class folders"):
        load_data(DataSource(str(tmp_path)))


def test_an_empty_class_is_refused_by_name(tmp_path, colour_folder):
    root = colour_folder(tmp_path / "pets")
    (root / "emu").mkdir()
    (root / "emu" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=f"class folder {root / 'emu'} has no images"):
        load_data(DataSource(str(root)))


def test_the_first_n_images_take_the_classes_in_turn(tmp_path, colour_folder):
    data = load_data(DataSource(str(colour_folder(tmp_path / "pets"))))
    first = data.first(7)
    assert first.labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert torch.equal(first.images[0], data.images[0]) and torch.equal(first.images[1], data.images[8])
    assert torch.equal(data.first(len(data)).images.sort(0).values, data.images.sort(0).values)


def test_one_class_only_is_refused(tmp_path, colour_folder):
    root = colour_folder(tmp_path / "pets", classes=["cat"])
    with pytest.raises(DataError, match="one class folder \\(cat\\)"):
        load_data(DataSource(str(root)))


def test_a_corrupt_image_is_named_or_skipped_and_counted(tmp_path, colour_folder, capsys):
    root = colour_folder(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    truncated = root / "owl" / "cut.png"
    truncated.write_bytes((root / "owl" / "000.png").read_bytes()[:60])
    with pytest.raises(DataError, match=f"cannot read image {root / 'dog' / 'broken.png'}.*--skip-bad-images"):
        load_data(DataSource(str(root)))
    data = load_data(DataSource(str(root), skip_bad_images=True))
    assert len(data) == 24
    assert f"skipped 2 unreadable image(s) in {root}" in capsys.readouterr().err


def test_a_class_left_empty_by_skipping_is_refused(tmp_path, colour_folder):
    root = colour_folder(tmp_path / "pets")
    shutil.rmtree(root / "owl")
    (root / "owl").mkdir()
    (root / "owl" / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=f"class folder {root / 'owl'} has no readable images"):
        load_data(DataSource(str(root), skip_bad_images=True))


def test_a_folder_with_no_readable_image_at_all_is_refused_when_skipping(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "bad.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=f"class folder {tmp_path / 'cat'} has no readable images"):
        load_data(DataSource(str(tmp_path), skip_bad_images=True))


def test_mixed_sizes_need_an_image_size(tmp_path, colour_folder):
    root = colour_folder(tmp_path / "pets")
    Image.new("RGB", (20, 20)).save(root / "cat" / "big.png")
    with pytest.raises(DataError, match="differ in size .*big.png: 20x20.*--image-size"):
        load_data(DataSource(str(root)))
    assert load_data(DataSource(str(root), image_size=16)).images.shape == (25, 3, 16, 16)


def test_a_path_that_is_neither_a_set_nor_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a data set"):
        load_data(DataSource(str(tmp_path / "nope")))


@pytest.mark.parametrize("name, shown", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"),
                                         ("kmnist", "KMNIST"), ("cifar10", "cifar10")])
def test_an_absent_torchvision_set_with_no_download_is_refused_and_nothing_is_created(tmp_path, name, shown):
    with pytest.raises(FileNotFoundError, match=f"{shown} not found.*drop --no-download"):
        load_data(DataSource(name, tmp_path / "data"))
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("options", [{"channels": 2}, {"image_size": 0}])
def test_bad_shape_options_are_refused(options):
    with pytest.raises(DataError):
        DataSource(**options)


# --- MNIST-format files, checked before training -----------------------------------------


def write_idx_set(raw: Path, split: str, n: int, label_max: int = 9) -> tuple[Path, Path]:
    raw.mkdir(parents=True, exist_ok=True)
    images, labels = raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte"
    pixels = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images.write_bytes((2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
                       + pixels.tobytes())
    values = (np.arange(n) % (label_max + 1)).astype(np.uint8)
    labels.write_bytes((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + values.tobytes())
    return images, labels


def corrupt(kind: str, images: Path, labels: Path) -> tuple[Path, str]:
    if kind == "bad magic":
        images.write_bytes(b"\x00\x00\x08\x04" + images.read_bytes()[4:])
        return images, "magic number 0x00000804, expected 0x00000803"
    if kind == "empty":
        labels.write_bytes(b"")
        return labels, "0 bytes, shorter than its 8-byte header"
    if kind == "too short":
        images.write_bytes(images.read_bytes()[:-1])
        return images, "bytes, expected"
    if kind == "label count":
        labels.write_bytes((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(3))
        return labels, "3 labels for 6 images"
    labels.write_bytes((2049).to_bytes(4, "big") + (6).to_bytes(4, "big") + bytes([0, 1, 2, 3, 4, 12]))
    return labels, "label 12 \\(the set has 10 classes\\)"


@pytest.mark.parametrize("kind", ["bad magic", "empty", "too short", "label count", "label value"])
def test_corrupt_mnist_files_are_named(tmp_path, kind):
    path, message = corrupt(kind, *write_idx_set(tmp_path / "MNIST" / "raw", "train", n=6))
    with pytest.raises(DataError, match=f"{path}.*{message}"):
        load_data(DataSource("mnist", tmp_path))


# --- downloads, through torchvision's own classes (stood in for: no network here) ------------


def test_a_download_writes_torchvisions_layout_and_is_read_back(tmp_path, monkeypatch):
    import torchvision.datasets

    class FakeFashion(torchvision.datasets.FashionMNIST):
        def __init__(self, root: str, train: bool, download: bool) -> None:
            assert download
            write_idx_set(Path(root) / "FashionMNIST" / "raw", "train" if train else "t10k", n=5)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashion)
    data = load_data(DataSource("fashion-mnist", tmp_path / "data", download=True))
    assert data.images.shape == (5, 1, 28, 28) and data.class_names[0] == "T-shirt/top"
    assert data.dataset == "fashion-mnist"


def test_a_failed_download_leaves_no_empty_folders_behind(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            (Path(root) / "MNIST" / "raw").mkdir(parents=True)
            (Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
            # torchvision's message: the reason is on the lines after the first
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://m1/, got:\n"
                               "<urlopen error [Errno -3] Temporary failure in name resolution>\n")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    (tmp_path / "data").mkdir()  # the user's folder stays; what the download made goes
    with pytest.raises(OSError) as failed:
        load_data(DataSource("mnist", tmp_path / "data", download=True))
    message = str(failed.value)
    assert "\n" not in message  # the command prints the first line only: the reason must be on it
    assert "cannot download mnist into" in message and "Temporary failure in name resolution" in message
    assert list((tmp_path / "data").iterdir()) == []


def test_cifar10_comes_through_torchvision_as_rgb(tmp_path, monkeypatch):
    import torchvision.datasets

    class FakeCifar:
        classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

        def __init__(self, root: str, train: bool, download: bool) -> None:
            self.data = np.arange(4 * 32 * 32 * 3, dtype=np.uint32).astype(np.uint8).reshape(4, 32, 32, 3)
            self.targets = [0, 3, 9, 1]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCifar)
    data = load_data(DataSource("cifar10", tmp_path))
    assert data.images.shape == (4, 3, 32, 32) and data.labels.tolist() == [0, 3, 9, 1]
    assert torch.equal(data.images[1, 2], torch.from_numpy(FakeCifar(".", True, False).data[1, :, :, 2]))
    assert data.class_names[9] == "truck"


# --- memory -----------------------------------------------------------------------------------


def test_memory_is_estimated_and_a_set_that_will_not_fit_is_refused_before_decoding(tmp_path, colour_folder,
                                                                                   monkeypatch):
    assert memory_needed(60_000, (1, 28, 28)) == 47_040_000
    monkeypatch.setattr(data_module, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match="needs 1.1 MiB but only 1,000 bytes of available memory"):
        check_fits(1_200_000)
    with pytest.raises(MemoryError, match="24 images at 3x64x64"):
        load_data(DataSource(str(colour_folder(tmp_path / "pets")), image_size=64))


@pytest.mark.parametrize(
    "mode, full_scale",
    [("I;16", 65535), ("I", 65535), ("F", 1.0)],
    ids=["16-bit-png", "32-bit-int-tiff", "float-tiff"],
)
def test_grey_images_deeper_than_8_bits_load_scaled_from_their_full_scale(tmp_path, mode, full_scale):
    """16-bit PNGs at 12% and 85% of full scale once loaded as 255 (and float TIFFs in [0, 1] as 0)."""
    suffix = ".png" if mode == "I;16" else ".tiff"
    for name, fraction in (("dim", 0.12), ("bright", 0.85)):
        (tmp_path / name).mkdir()
        value = fraction * full_scale
        array = np.full((8, 8), value, dtype=np.float32 if mode == "F" else np.uint16 if mode == "I;16" else np.int32)
        picture = Image.fromarray(array, mode) if mode != "I;16" else Image.frombytes("I;16", (8, 8), array.tobytes())
        picture.save(tmp_path / name / f"a{suffix}")
    loaded = load_data(DataSource(str(tmp_path)))
    by_class = {name: int(loaded.images[loaded.labels == c].float().mean()) for c, name in enumerate(loaded.class_names)}
    assert by_class == {"bright": round(0.85 * 255), "dim": round(0.12 * 255)}


def test_a_folder_named_like_a_data_set_is_not_recorded_as_that_set(tmp_path, colour_folder):
    """photos/mnist once recorded "mnist", and cgan-eval then scored the model against real MNIST."""
    root = colour_folder(tmp_path / "photos" / "mnist")
    loaded = load_data(DataSource(str(root)))
    assert loaded.dataset == "mnist/" and loaded.dataset not in data_module.SOURCES
    assert load_data(DataSource(str(colour_folder(tmp_path / "pets")))).dataset == "pets"
