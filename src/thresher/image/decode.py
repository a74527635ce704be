"""Decoding an image safely: whatever the file holds, an RGB ``uint8`` array or an
``ImageDecodeError`` that says what is wrong with it; never a crash or an out-of-memory kill.

- EXIF orientation is applied (a photo taken sideways is decoded upright);
- CMYK, 16-bit, palette, grey and alpha images become RGB; transparency is flattened on white;
- an animated image (GIF, APNG, WebP) is its first frame;
- an image whose header declares more than ``MAX_PIXELS`` pixels is refused as a
  decompression bomb before any pixel is decoded (Pillow's own limit, 89.5 Mpixels);
- an image larger than ``MAX_SIDE`` on a side is decoded reduced (JPEG's draft mode decodes at
  1/2, 1/4 or 1/8 scale), so that memory stays bounded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Decoded", "ImageDecodeError", "decode", "MAX_PIXELS", "MAX_SIDE", "IMAGE_SUFFIXES"]

#: Pixels above which an image is refused as a decompression bomb (Pillow's default limit).
MAX_PIXELS = 89_478_485
#: Images larger than this on a side are decoded reduced.
MAX_SIDE = 4096
#: The file suffixes read as images by ``input.format: images``.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; ``str(exc)`` says why, for a removal reason."""


@dataclass(frozen=True)
class Decoded:
    """An image's RGB pixels (``(height, width, 3)`` uint8, possibly reduced), its size after
    EXIF orientation and before any reduction, its format (Pillow's name) and frame count."""

    pixels: np.ndarray
    width: int
    height: int
    format: str
    frames: int = 1


def decode(data: bytes) -> Decoded:
    """Decode an encoded image (``data``: the file's bytes).

    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("RGBA", (3, 2), (255, 0, 0, 0)).save(buffer, "PNG")  # fully transparent red
    >>> image = decode(buffer.getvalue())
    >>> image.pixels.shape, image.pixels[0, 0].tolist(), image.format
    ((2, 3, 3), [255, 255, 255], 'PNG')
    >>> decode(b"")
    Traceback (most recent call last):
    ...
    thresher.image.decode.ImageDecodeError: empty file (0 bytes)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():  # Pillow only warns between its limit and twice it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError(f"not an image that Pillow can read ({len(data)} bytes, starting {data[:8]!r})") \
            from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(_bomb(data)) from None
    except Exception as exc:  # a header that is not what it claims: any error of the plugin
        raise ImageDecodeError(f"unreadable image header ({type(exc).__name__}: {exc})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(_bomb(data, image.size))
    fmt = image.format or "unknown"
    frames = int(getattr(image, "n_frames", 1) or 1)
    turned = _orientation(image) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
    try:
        if max(width, height) > MAX_SIDE and fmt == "JPEG":
            scale = max(width, height) / MAX_SIDE
            image.draft("RGB", (int(width / scale), int(height / scale)))
        image.load()
        try:
            image = ImageOps.exif_transpose(image) or image
        except Exception:  # a broken EXIF block: the image as stored
            turned = False
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE))
        pixels = _rgb(image)
    except ImageDecodeError:
        raise
    except Exception as exc:  # truncated or corrupt data: Pillow's plugins raise many kinds
        raise ImageDecodeError(f"cannot decode the {fmt} data ({type(exc).__name__}: {exc})") from None
    if turned:
        width, height = height, width
    return Decoded(pixels, width, height, fmt, frames)


def _orientation(image) -> int:
    """The EXIF orientation (1-8; 1 where there is none or it cannot be read)."""
    try:
        return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block: the image is decoded as stored
        return 1


def _rgb(image) -> np.ndarray:
    """The image's pixels as RGB uint8: 16- and 32-bit grey scaled down, alpha flattened on white."""
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _bomb(data: bytes, size: tuple[int, int] | None = None) -> str:
    if size is None:
        size = _declared_size(data)
    declared = f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} Mpixels" if size else "too many pixels"
    return f"decompression bomb: the header declares {declared}, over the limit of {MAX_PIXELS / 1e6:.1f} Mpixels"


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """The size a PNG header declares (Pillow refuses to open a bomb, so it cannot tell)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None
