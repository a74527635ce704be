"""What the image ops need from the pixels, measured once per image when it is read: sharpness,
exposure, information, colour and perceptual hashes (the ``th_image_*`` signal columns).

Every measure is taken on a *working copy* of at most ``WORK_SIDE`` pixels on its longer side
(an area-averaged reduction; smaller images are measured as they are), so that an image and its
2x larger copy get the same values, and a 12-megapixel photo costs little more than a thumbnail.

The hashes follow imagehash (J. Buchner, ``phash``: DCT-II of a grayscale thumbnail, the
low-frequency 8x8 block against its median, after Zauner 2010, "Implementation and
Benchmarking of Perceptual Image Hash Functions"; ``dhash``: 9x8 neighbour differences, after
N. Krawetz 2013, "Kind of like that"). Both hashes come from one 64x64 Lanczos thumbnail of the
working copy: its DCT's top-left 8x8 holds the same frequencies as imagehash's 32x32 DCT (the
64-bit ``phash``) and its 16x16 block is imagehash's ``phash(hash_size=16)`` (256 bits). The
``_flip`` hashes are those of the horizontally mirrored image, read off the same DCT (mirroring
negates the odd horizontal frequencies). Bits are packed most significant first, row by row, so
``hash.hex()`` reads as imagehash's ``str(hash)``.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
>>> s = measure(photo)
>>> sorted(s) == sorted(SIGNAL_SCHEMA.names)
True
>>> gray = np.repeat(photo[:, :, :1], 3, axis=2)  # gray pixels stored as RGB
>>> measure(gray)["th_image_gray"], measure(np.full((8, 8, 3), 90, np.uint8))["th_image_entropy"]
(0.0, 0.0)
>>> mirrored = measure(photo[:, ::-1])
>>> words = hash_words(pa.array([s["th_image_phash"], mirrored["th_image_phash_flip"]], pa.binary(8)))
>>> hamming(words[0], words[1])  # the flip hash of a mirrored image is the image's hash
np.uint16(0)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
from PIL import Image
from scipy.fft import dct

__all__ = ["measure", "measure_many", "SIGNAL_SCHEMA", "WORK_SIDE", "hash_words", "hamming", "popcount64"]

#: The longer side of the working copy that every measure is taken on (see ``measure``).
WORK_SIDE = 256
#: The coarse copy that ``th_image_focus`` compares the working copy with is this many times smaller.
FOCUS_REDUCTION = 4

SIGNAL_SCHEMA = pa.schema([
    ("th_image_sharpness", pa.float32()),
    ("th_image_focus", pa.float32()),
    ("th_image_brightness", pa.float32()),
    ("th_image_dark", pa.float32()),
    ("th_image_light", pa.float32()),
    ("th_image_entropy", pa.float32()),
    ("th_image_gray", pa.float32()),
    ("th_image_phash", pa.binary(8)),
    ("th_image_phash_flip", pa.binary(8)),
    ("th_image_phash256", pa.binary(32)),
    ("th_image_phash256_flip", pa.binary(32)),
    ("th_image_dhash", pa.binary(8)),
])


def measure(rgb: np.ndarray) -> dict:
    """The signal columns of one decoded image (``uint8`` array ``(H, W, 3)``; ``(H, W)`` is
    taken as gray), as ``{column: value}`` with the columns of ``SIGNAL_SCHEMA``:

    - ``th_image_sharpness``: variance of the 4-neighbour Laplacian of the working copy's
      luminance (0-255): low means blurry (Pech-Pacheco et al. 2000, "Diatom autofocusing in
      brightfield microscopy", the measure cleanvision and OpenCV tutorials use); it also falls
      with contrast and with the share of flat background;
    - ``th_image_focus``: ``th_image_sharpness`` over the Laplacian variance of a 4x smaller
      copy: how much of the detail survives at the finest scale. Sharp photos mostly score 0.1
      to 2, whatever their contrast or background; a Gaussian blur of sigma 3 at 512 px takes
      99% of them below 0.06. 1 for images under 12 px or flat;
    - ``th_image_brightness``: mean luminance in [0, 1] (ITU-R 601 weights, Pillow's ``L``);
    - ``th_image_dark``: ``1 -`` the 99th luminance percentile, in [0, 1]: high when even the
      brightest pixels are dark (a natural photo, even at night, has a highlight somewhere);
    - ``th_image_light``: the 1st luminance percentile, in [0, 1]: high when even the darkest
      pixels are bright, as in a washed-out image (an object on a white background has its
      shadows; a share of near-white pixels would call it light);
    - ``th_image_entropy``: Shannon entropy (bits, 0 to 8) of the luminance histogram;
    - ``th_image_gray``: the largest mean absolute difference between two colour channels
      (0-255, on a 4x smaller copy): 0 for gray pixels stored as RGB, whatever the file's mode;
    - the hashes (``bytes``), see the module's docstring.
    """
    rgb = _as_rgb(rgb)
    work = _working_copy(rgb)
    luma = work.convert("L")
    counts = np.asarray(luma.histogram(), dtype=np.int64)
    sharpness = _laplacian_variance(np.asarray(luma))
    out = {"th_image_sharpness": sharpness, "th_image_focus": _focus(sharpness, luma), **_exposure(counts),
           "th_image_entropy": _entropy(counts), "th_image_gray": _channel_difference(work)}
    out.update(_hashes(luma))
    return {name: out[name] for name in SIGNAL_SCHEMA.names}


def measure_many(images: Sequence[np.ndarray]) -> pa.Table:
    """``measure`` of each image, as a table with ``SIGNAL_SCHEMA``."""
    rows = [measure(image) for image in images]
    return pa.table({name: pa.array([r[name] for r in rows], field.type)
                     for name, field in zip(SIGNAL_SCHEMA.names, SIGNAL_SCHEMA)}, schema=SIGNAL_SCHEMA)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or not rgb.size:
        raise ValueError(f"measure needs a non-empty uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def _working_copy(rgb: np.ndarray) -> Image.Image:
    """The image at most ``WORK_SIDE`` pixels on its longer side, reduced by area averaging."""
    image = Image.fromarray(rgb, "RGB")
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=1.0)


def _laplacian_variance(lum: np.ndarray) -> float:
    if min(lum.shape) < 3:
        return 0.0
    g = lum.astype(np.float32)
    lap = g[:-2, 1:-1] + g[2:, 1:-1]
    lap += g[1:-1, :-2]
    lap += g[1:-1, 2:]
    lap -= 4 * g[1:-1, 1:-1]
    lap = lap.ravel()
    mean = float(lap.sum(dtype=np.float64)) / lap.size
    return max(0.0, float(np.dot(lap, lap)) / lap.size - mean * mean)


def _focus(sharpness: float, luma: Image.Image) -> float:
    """The working copy's Laplacian variance over that of its ``FOCUS_REDUCTION`` times smaller
    copy, 1 when the image is too small (or too flat) to tell."""
    if min(luma.size) < 3 * FOCUS_REDUCTION:
        return 1.0
    coarse = _laplacian_variance(np.asarray(luma.reduce(FOCUS_REDUCTION)))
    return (sharpness + 1e-3) / (coarse + 1e-3)


def _exposure(counts: np.ndarray) -> dict:
    n = counts.sum()
    cdf = np.cumsum(counts)
    p1, p99 = np.searchsorted(cdf, [0.01 * n, 0.99 * n])
    return {"th_image_brightness": float(counts @ np.arange(256) / n / 255),
            "th_image_dark": 1 - int(p99) / 255, "th_image_light": int(p1) / 255}


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -(p * np.log2(p)).sum()))


def _channel_difference(work: Image.Image) -> float:
    """On a 4x smaller copy: gray stays exactly gray, and the colour of a photo is coarse."""
    small = work.reduce(4) if min(work.size) >= 16 else work
    c = np.asarray(small, dtype=np.int16)
    pairs = (c[..., 0] - c[..., 1], c[..., 1] - c[..., 2], c[..., 0] - c[..., 2])
    return float(max(np.abs(d).mean() for d in pairs))


_ODD = np.where(np.arange(16) % 2, -1.0, 1.0)  # mirroring negates the odd horizontal frequencies


def _hashes(luma: Image.Image) -> dict:
    thumb = luma.resize((64, 64), Image.Resampling.LANCZOS, reducing_gap=2.0)
    pixels = np.asarray(thumb, dtype=np.float64)
    coefs = dct(dct(pixels, axis=0), axis=1)
    small = thumb.resize((9, 8), Image.Resampling.LANCZOS)
    d = np.asarray(small, dtype=np.int16)
    out = {"th_image_dhash": _bits(d[:, 1:] > d[:, :-1])}
    for size, name in ((8, "th_image_phash"), (16, "th_image_phash256")):
        block = coefs[:size, :size]
        out[name] = _above_median(block)
        out[f"{name}_flip"] = _above_median(block * _ODD[:size])
    return out


def _above_median(block: np.ndarray) -> bytes:
    return _bits(block > np.median(block))


def _bits(bits: np.ndarray) -> bytes:
    return np.packbits(bits.ravel()).tobytes()


def hash_words(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A ``fixed_size_binary`` hash column (8 or 32 bytes, no nulls) as an ``(n, bytes/8)``
    ``uint64`` array (big-endian words: word 0 holds the first 64 bits).

    >>> hash_words(pa.array([bytes(7) + b"\\x05"], pa.binary(8)))
    array([[5]], dtype=uint64)
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    width = column.type.byte_width
    if column.null_count:
        raise ValueError("hash_words: the hash column has nulls")
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    data = data[column.offset * width:(column.offset + len(column)) * width]
    return data.view(">u8").astype(np.uint64).reshape(len(column), width // 8)


def popcount64(words: np.ndarray) -> np.ndarray:
    """The number of set bits of each ``uint64``, as ``uint8`` (same shape)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).astype(np.uint8)
    as_bytes = words.astype(np.uint64).view(np.uint8).reshape(*words.shape, 8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between hash rows of ``hash_words`` (broadcasting: ``a[:, None]``
    against ``b[None]`` gives all pairs), summed over the words."""
    return popcount64(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.uint16)
