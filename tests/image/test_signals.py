"""thresher.image.signals: what each measure says about synthetic images with a known answer."""

import numpy as np
import pyarrow as pa
import pytest
import scipy.fft
from PIL import Image, ImageFilter

from conftest import photo_like
from thresher.image.signals import SIGNAL_SCHEMA, hamming, hash_words, measure, measure_many


def _photo(h: int = 384, w: int = 512, seed: int = 0) -> np.ndarray:
    return photo_like(h, w, seed)


def _blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma)))


def _resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((round(w * factor), round(h * factor)), Image.Resampling.LANCZOS))


def _bits(value: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(value, np.uint8)).sum())


def test_uniform_gray_is_gray_flat_and_without_information():
    s = measure(np.full((50, 60, 3), 128, np.uint8))
    assert s["th_image_gray"] == 0 and s["th_image_entropy"] == 0 and s["th_image_sharpness"] == 0
    assert s["th_image_focus"] == 1  # too flat to tell: not blurry (low information says it)
    assert s["th_image_brightness"] == pytest.approx(128 / 255)


def test_gray_pixels_stored_as_rgb_have_no_channel_difference():
    photo = _photo()
    gray = np.repeat(np.asarray(Image.fromarray(photo).convert("L"))[:, :, None], 3, axis=2)
    assert measure(gray)["th_image_gray"] == 0
    assert measure(photo)["th_image_gray"] > 5
    tinted = gray.copy()
    tinted[:, :, 2] //= 2  # one channel differs: colour, however dull
    assert measure(tinted)["th_image_gray"] > 5


def test_a_sharp_checkerboard_is_sharper_than_its_blurred_copy():
    board = np.kron((np.indices((32, 32)).sum(axis=0) % 2) * 255, np.ones((8, 8)))
    board = np.repeat(board[:, :, None], 3, axis=2).astype(np.uint8)
    sharp, soft = measure(board), measure(_blur(board, 3))
    assert soft["th_image_sharpness"] < sharp["th_image_sharpness"] / 10
    assert soft["th_image_focus"] < sharp["th_image_focus"] / 3


def test_blur_lowers_focus_on_a_photo_like_image_below_the_default_bound():
    photo = _photo()
    assert measure(photo)["th_image_focus"] > 0.1
    assert measure(_blur(photo, 3))["th_image_focus"] < 0.08  # image_quality's min_focus


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_the_image_size_does_not_decide_sharpness_or_focus(factor):
    photo = _photo()
    same, resized = measure(photo), measure(_resize(photo, factor))
    for name in ("th_image_sharpness", "th_image_focus"):
        assert 1 / 1.5 < resized[name] / same[name] < 1.5, name


def test_focus_does_not_depend_on_contrast_but_sharpness_does():
    photo = _photo()
    dim = (photo // 4).astype(np.uint8)
    assert measure(dim)["th_image_sharpness"] < measure(photo)["th_image_sharpness"] / 8
    assert measure(dim)["th_image_focus"] == pytest.approx(measure(photo)["th_image_focus"], rel=0.2)


def _flip_distances(photo: np.ndarray) -> tuple[int, int]:
    s, mirrored = measure(photo), measure(np.ascontiguousarray(photo[:, ::-1]))
    return tuple(_bits(bytes(a ^ b for a, b in zip(s[name], mirrored[f"{name}_flip"])))
                 for name in ("th_image_phash", "th_image_phash256"))


@pytest.mark.parametrize("shape", [(384, 512), (47, 61)])
def test_the_hash_of_a_mirrored_image_is_the_flip_hash_of_the_image(shape):
    assert _flip_distances(_photo(*shape)) == (0, 0)
    s = measure(_photo(*shape))
    assert s["th_image_phash"] != s["th_image_phash_flip"]


def test_the_flip_hash_of_a_mirrored_image_differs_only_by_resampling_rounding():
    # 1500 px reduce to 256 by a fraction: Pillow's filter windows are not exactly mirrored
    phash, phash256 = _flip_distances(_photo(1000, 1500))
    assert phash <= 4 and phash256 <= 16


def _imagehash_phash(rgb: np.ndarray, hash_size: int) -> bytes:
    """imagehash.phash as its source has it: DCT of a (4 * hash_size)^2 Lanczos thumbnail."""
    n = 4 * hash_size
    pixels = np.asarray(Image.fromarray(rgb).convert("L").resize((n, n), Image.Resampling.LANCZOS), np.float64)
    coefs = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)[:hash_size, :hash_size]
    return np.packbits((coefs > np.median(coefs)).ravel()).tobytes()


@pytest.mark.parametrize("seed", range(4))
def test_phash_is_close_to_imagehash(seed):
    photo = _blur(_photo(seed=seed), 1)
    s = measure(photo)
    assert _bits(bytes(a ^ b for a, b in zip(s["th_image_phash"], _imagehash_phash(photo, 8)))) <= 6
    assert _bits(bytes(a ^ b for a, b in zip(s["th_image_phash256"], _imagehash_phash(photo, 16)))) <= 24


def test_a_resized_or_recompressed_copy_keeps_its_hash_and_another_image_does_not():
    photo = _photo()
    words = hash_words(pa.array([measure(a)["th_image_phash"] for a in (photo, _resize(photo, 0.5), _photo(seed=9))],
                                pa.binary(8)))
    assert hamming(words[0], words[1]) <= 4
    assert hamming(words[0], words[2]) >= 16


def test_black_is_dark_white_is_light_and_a_photo_is_neither():
    black, white = measure(np.zeros((40, 40, 3), np.uint8)), measure(np.full((40, 40, 3), 255, np.uint8))
    assert black["th_image_dark"] == 1 and black["th_image_light"] == 0
    assert white["th_image_light"] == 1 and white["th_image_dark"] == 0
    photo = _photo()
    assert measure(photo)["th_image_dark"] < 0.3 and measure(photo)["th_image_light"] < 0.3
    darkened = (photo * 0.25).astype(np.uint8)
    washed = (255 - (255 - photo.astype(np.float64)) * 0.25).astype(np.uint8)
    assert measure(darkened)["th_image_dark"] > 0.6 and measure(washed)["th_image_light"] > 0.7


def test_an_object_on_a_white_background_is_not_light():
    canvas = np.full((400, 400, 3), 255, np.uint8)
    canvas[150:250, 150:250] = _photo(100, 100)  # 6% of the image: a stamp on white
    assert measure(canvas)["th_image_light"] < 0.7  # image_quality's max_light


def test_measure_many_has_the_schema_and_is_deterministic():
    images = [_photo(60, 80, seed=i) for i in range(3)] + [np.zeros((5, 7), np.uint8)]
    table = measure_many(images)
    assert table.schema == SIGNAL_SCHEMA and table.num_rows == 4
    assert table.equals(measure_many(images))
    assert table.column("th_image_gray")[3].as_py() == 0  # a 2-D array is gray


def test_a_tiny_image_is_measured_without_warnings():
    s = measure(np.full((1, 2, 3), 7, np.uint8))
    assert s["th_image_sharpness"] == 0 and len(s["th_image_phash256"]) == 32


def test_measure_refuses_what_is_not_an_rgb_uint8_array():
    with pytest.raises(ValueError, match="uint8 array"):
        measure(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 array"):
        measure(np.zeros((4, 4, 4), np.uint8))


def test_hash_words_reads_big_endian_words_of_sliced_columns():
    values = [bytes(range(8)), bytes([255] * 8), bytes(8)]
    column = pa.array(values, pa.binary(8))
    assert hash_words(column).tolist() == [[0x0001020304050607], [2**64 - 1], [0]]
    assert hash_words(column.slice(1)).tolist() == [[2**64 - 1], [0]]
    wide = hash_words(pa.chunked_array([pa.array([bytes(31) + b"\x01"], pa.binary(32))]))
    assert wide.shape == (1, 4) and wide[0, 3] == 1


def test_hamming_counts_differing_bits_and_broadcasts():
    words = hash_words(pa.array([bytes(8), bytes([255] * 8), bytes([1] + [0] * 7)], pa.binary(8)))
    assert hamming(words[:, None], words[None]).tolist() == [[0, 64, 1], [64, 0, 63], [1, 63, 0]]
    wide = hash_words(pa.array([bytes(32), bytes([255] * 32)], pa.binary(32)))
    assert hamming(wide[0], wide[1]) == 256
