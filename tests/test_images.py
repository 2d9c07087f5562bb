"""Pixels, grids, enlargements and PNG bytes, independent of any model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cgan_runtime.images import encode_png, encode_png_plain, make_grid, scale, to_pil, to_uint8


def test_to_uint8_maps_the_output_range_onto_0_255_rounding_and_clipping():
    raw = np.array([-1.0, 0.0, 1.0, 1.5, -2.0, 0.004], dtype=np.float32).reshape(1, 1, 1, 6)
    assert to_uint8(raw, (-1.0, 1.0)).tolist() == [[[0, 128, 255, 255, 0, 128]]]
    assert to_uint8(raw, (0.0, 1.0)).tolist() == [[[0, 0, 255, 255, 0, 1]]]


def test_to_uint8_drops_a_single_channel_and_puts_colour_channels_last():
    assert to_uint8(np.zeros((2, 1, 3, 4), np.float32), (-1.0, 1.0)).shape == (2, 3, 4)
    assert to_uint8(np.zeros((2, 3, 5, 4), np.float32), (-1.0, 1.0)).shape == (2, 5, 4, 3)


def test_make_grid_lays_images_out_row_major_framed_by_padding():
    images = np.arange(1, 6, dtype=np.uint8)[:, None, None] * np.ones((5, 2, 3), np.uint8)
    grid = make_grid(images, cols=2, padding=1, pad_value=200)
    assert grid.shape == (3 * (2 + 1) + 1, 2 * (3 + 1) + 1)
    assert grid[1:3, 1:4].tolist() == [[1] * 3] * 2  # row 0, col 0
    assert grid[1:3, 5:8].tolist() == [[2] * 3] * 2  # row 0, col 1
    assert grid[7:9, 1:4].tolist() == [[5] * 3] * 2  # row 2, col 0
    assert (grid[7:9, 5:8] == 200).all()  # the unused last cell
    assert (grid[0] == 200).all() and (grid[:, 4] == 200).all()


def test_make_grid_without_padding_is_plain_tiling_and_keeps_colour():
    images = np.zeros((6, 4, 4, 3), np.uint8)
    assert make_grid(images, cols=3, padding=0).shape == (8, 12, 3)


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((2, 4, 4), np.uint8), {"cols": 0}, "cols must be an integer >= 1"),
        (np.zeros((2, 4, 4), np.uint8), {"cols": 1, "padding": -1}, "padding must be an integer >= 0"),
        (np.zeros((0, 4, 4), np.uint8), {"cols": 1}, "non-empty"),
        (np.zeros((4, 4), np.uint8), {"cols": 1}, r"\[N, H, W\]"),
    ],
)
def test_make_grid_refuses_bad_arguments(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_grid(images, **kwargs)


def test_scale_turns_each_pixel_into_a_k_by_k_block():
    image = np.array([[1, 2], [3, 4]], np.uint8)
    assert scale(image, 2).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert scale(np.zeros((2, 3, 3), np.uint8), 3).shape == (6, 9, 3)
    with pytest.raises(ValueError, match="scale factor"):
        scale(image, 0)


def test_encode_png_round_trips_through_pillow():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    decoded = Image.open(io.BytesIO(encode_png(image)))
    assert decoded.mode == "L"
    np.testing.assert_array_equal(np.asarray(decoded), image)


def test_encode_png_refuses_non_uint8_pixels():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("shape, mode", [((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")])
def test_a_plain_png_holds_the_pictures_pixels(shape, mode, compress):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png_plain(image, compress))) as decoded:
        assert decoded.mode == mode
        np.testing.assert_array_equal(np.asarray(decoded), image)


@pytest.mark.parametrize("image", [np.zeros((2, 2), np.float32), np.zeros((2, 2, 2), np.uint8)])
def test_plain_png_refuses_what_it_cannot_store(image):
    with pytest.raises(ValueError, match="uint8|shape"):
        encode_png_plain(image)


def test_to_pil_gives_one_pillow_image_per_array_item():
    pictures = to_pil(np.zeros((3, 5, 4), np.uint8))
    assert [(p.mode, p.size) for p in pictures] == [("L", (4, 5))] * 3
