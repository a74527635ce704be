"""What the reader measures on each decoded image, for the image ops (first: mean brightness;
the full set of measures and perceptual hashes comes with ``image_quality`` and ``dedup_image``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["SIGNAL_SCHEMA", "measure"]

SIGNAL_SCHEMA = pa.schema([("th_image_brightness", pa.float32())])


def measure(rgb: np.ndarray) -> dict:
    """The signals of an RGB uint8 image, one per ``SIGNAL_SCHEMA`` column."""
    return {"th_image_brightness": float(rgb.mean() / 255.0)}
