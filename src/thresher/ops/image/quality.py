"""``image_quality``: remove images that are blurry, dark, light, blank, gray stored as RGB, or
of odd size or aspect ratio, from the signal columns measured when the images were read."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..registry import register_op

__all__ = ["ImageQuality", "ISSUES", "robust_z"]

WIDTH, HEIGHT = "th_image_width", "th_image_height"


@dataclass(frozen=True)
class _Check:
    """One measure an issue is judged on: its column, which side is bad, the fixed bound's
    parameter and the relative one's (a robust z-score, on a log scale when ``log``)."""

    issue: str
    what: str
    column: str
    low_is_bad: bool
    fixed: str
    default: float | None
    relative: str | None = None
    log: bool = False
    #: The least robust standard deviation (on the log10 scale when ``log``): among near-identical
    #: images, tiny differences are not outliers.
    floor: float = 0.0


#: In the order a record's first issue is picked for its reason.
_CHECKS = (
    _Check("low information", "entropy", "th_image_entropy", True, "min_entropy", 1.0, "entropy_z", floor=0.1),
    _Check("dark", "dark", "th_image_dark", False, "max_dark", 0.6, "dark_z", floor=0.02),
    _Check("light", "light", "th_image_light", False, "max_light", 0.7, "light_z", floor=0.02),
    _Check("blurry", "focus", "th_image_focus", True, "min_focus", 0.08, "focus_z", log=True, floor=0.1),
    _Check("blurry", "sharpness", "th_image_sharpness", True, "min_sharpness", None, "sharpness_z", log=True,
           floor=0.1),
    _Check("grayscale", "channel difference", "th_image_gray", True, "min_color", 1.0),
)
ISSUES = ("odd_size", "low_information", "dark", "light", "blurry", "grayscale", "odd_aspect_ratio")
_BOUND = dict(low=0, nullable=True)
_Z = dict(low=0, low_open=True, nullable=True)


@register_op("image_quality")
class ImageQuality(GlobalOp):
    """Image issues in the spirit of cleanvision (cleanlab), from the ``th_image_*`` columns
    that the readers measure once per image (``thresher.image.signals``; this op decodes
    nothing). Each issue has a fixed bound and, where it makes sense, one relative to the
    dataset: ``<measure>_z: k`` flags the records more than ``k`` robust standard deviations
    (``1.4826 * MAD`` around the median; Iglewicz & Hoaglin 1993 use 3.5 for outliers) on
    the bad side of the median, on a log10 scale for focus and sharpness. The robust standard
    deviation is at least 0.1 there, 0.1 bits for entropy and 0.02 for dark and light, so that
    among near-identical images tiny differences are not outliers. A record is removed for
    the first issue it has, in this order, the others named after ``also``:

    - ``odd size``: shorter side below ``min_side`` px, or ``sqrt(w * h)`` more than
      ``size_factor`` times smaller or larger than the dataset's median (cleanvision's rule);
    - ``low information``: entropy of the luminance histogram below ``min_entropy`` bits;
    - ``dark``: ``th_image_dark`` (1 - the 99th luminance percentile) above ``max_dark``: even
      the brightest pixels are dark;
    - ``light``: ``th_image_light`` (the 1st luminance percentile) above ``max_light``: even the
      darkest pixels are bright, as in a washed-out image; an object on a white background is
      not light (a share of near-white pixels would say it is);
    - ``blurry``: ``th_image_focus`` below ``min_focus``: the Laplacian variance of the 256 px
      working copy over that of a 4x smaller copy, so that neither the image's size, its
      contrast nor how much of it is flat background decide, unlike the raw Laplacian
      variance ``th_image_sharpness`` (Pech-Pacheco et al. 2000, cleanvision's blur measure),
      which ``min_sharpness`` / ``sharpness_z`` bound when set;
    - ``grayscale``: the largest mean difference between two colour channels below
      ``min_color`` (of 255): gray pixels, whatever the file's mode (cleanvision reads the mode);
    - ``odd aspect ratio``: longer over shorter side above ``max_aspect_ratio``.

    ``issues`` chooses the checks (default: all); a bound set to null is off. The defaults,
    measured on ~640 real images (tuxpaint stamps, opencv and ViSP images) with planted
    degradations: Gaussian blur sigma 3 found at about 1% false alarms on the originals,
    darkening (0.25 v) and washing out (255 - 0.25 (255 - v)) always, gray stored as RGB always.
    The relative bounds in force are recorded in the step's ``info`` (``thresholds``).

    Examples
    --------
    >>> from PIL import Image, ImageFilter
    >>> from thresher.image.signals import measure
    >>> from thresher.ops.examples import try_op
    >>> rng = np.random.default_rng(0)
    >>> photo = np.kron(rng.integers(0, 256, (48, 64, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    >>> soft = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(3)))
    >>> images = {"photo": photo, "soft": soft, "night": photo // 4, "mono": photo[:, :, [1, 1, 1]],
    ...           "strip": photo[:40]}
    >>> rows = [{"id": k, "text": "", "th_image_width": a.shape[1], "th_image_height": a.shape[0], **measure(a)}
    ...         for k, a in images.items()]
    >>> for name, why in try_op(ImageQuality(), rows).removed.items():
    ...     print(name, why)
    soft blurry: focus 0.0124 < min_focus 0.08
    night dark: dark 0.776 > max_dark 0.6
    mono grayscale: channel difference 0 < min_color 1
    strip odd aspect ratio: 6.4 > max_aspect_ratio 4
    >>> try_op(ImageQuality(issues=["blurry"], min_focus=None, focus_z=3), rows).removed  # relative to the others
    {'soft': 'blurry: focus 0.0124 < 0.0619 (robust z -10.0, focus_z 3)'}
    """

    params = {
        "issues": Param(list, None, f"the checks to run, of {', '.join(ISSUES)} (default: all)", item=str,
                        nullable=True),
        **{c.fixed: Param(float, c.default, f"{c.issue}: {'minimum' if c.low_is_bad else 'maximum'} {c.what}",
                          **_BOUND) for c in _CHECKS},
        **{c.relative: Param(float, None, f"{c.issue}: flag records more than this many robust standard "
                             f"deviations {'below' if c.low_is_bad else 'above'} the median {c.what}", **_Z)
           for c in _CHECKS if c.relative},
        "min_side": Param(int, 32, "odd size: minimum shorter side in pixels", **_BOUND),
        "size_factor": Param(float, 10.0, "odd size: maximum ratio of sqrt(width * height) to the dataset's "
                             "median, either way", low=1, low_open=True, nullable=True),
        "max_aspect_ratio": Param(float, 4.0, "odd aspect ratio: maximum longer / shorter side", low=1,
                                  nullable=True),
    }
    thresholds = {c.column: (c.fixed,) for c in _CHECKS}

    def validate(self) -> None:
        unknown = [i for i in self.issues or [] if i not in ISSUES]
        if unknown:
            raise RecipeError(f"{self.name}.issues: unknown {unknown}; choose from {list(ISSUES)}.")

    def _on(self, issue: str) -> bool:
        return self.issues is None or issue.replace(" ", "_") in self.issues

    def _checks(self) -> list[_Check]:
        """The checks that run: their issue is on and one of their bounds is set."""
        return [c for c in _CHECKS if self._on(c.issue)
                and (getattr(self, c.fixed) is not None or (c.relative and getattr(self, c.relative) is not None))]

    def _shape_checks(self) -> bool:
        return (self._on("odd size") and (self.min_side is not None or self.size_factor is not None)) or \
            (self._on("odd aspect ratio") and self.max_aspect_ratio is not None)

    def threshold_values(self) -> dict[str, list[float] | None]:
        values = super().threshold_values()
        return {c.column: values[c.column] for c in _CHECKS if self._on(c.issue)}

    def holds(self) -> str:
        return f"id and {len(self.key_columns()) - 1} image measures per record"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * (100 + 8 * len(self.key_columns()))

    def key_columns(self) -> list[str]:
        columns = [c.column for c in self._checks()] + ([WIDTH, HEIGHT] if self._shape_checks() else [])
        return ["id", *dict.fromkeys(columns)]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        columns = self.key_columns()
        for name in columns[1:]:
            if name not in batch.schema.names:
                raise InputError(f"{ctx.step or self.name}: the records have no column {name!r}, which image_quality "
                                 "reads; the image readers write it (input format: images, or image_field), or "
                                 f"leave its issue out of {self.name}.issues.")
            if batch.column(name).null_count:
                where = pc.index(pc.is_null(batch.column(name)), True).as_py()
                raise InputError(f"{ctx.step or self.name}: record {batch.column('id')[where].as_py()!r} has no value "
                                 f"in column {name!r}: image_quality needs every image's measures.")
        return pa.table({name: batch.column(name) for name in columns})

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read(self.key_columns())
        n = table.num_rows
        found: list[tuple[str, np.ndarray, list[str]]] = []  # (issue, flagged rows, their details)
        if n and self._shape_checks():
            found += self._shape_issues(table)
        for check in self._checks() if n else []:
            found.append(self._judge(check, table.column(check.column).to_numpy().astype(np.float64), ctx))
        return _reasons(table.column("id"), found, n)

    def _judge(self, check: _Check, values: np.ndarray, ctx: OpContext) -> tuple[str, np.ndarray, list[str]]:
        """The rows ``check`` flags, with the detail of each reason; a relative bound's value
        goes to ``ctx.info["thresholds"]`` for the report."""
        bad = (lambda v, t: v < t) if check.low_is_bad else (lambda v, t: v > t)
        sign = "<" if check.low_is_bad else ">"
        fixed = getattr(self, check.fixed)
        flagged = bad(values, fixed) if fixed is not None else np.zeros(len(values), bool)
        details = {int(i): f"{check.what} {_num(values[i])} {sign} {check.fixed} {_num(fixed)}"
                   for i in np.flatnonzero(flagged)}
        k = getattr(self, check.relative) if check.relative else None
        if k is not None:
            scaled = _log(values) if check.log else values
            z, (median, scale) = robust_z(scaled, check.floor), _center_scale(scaled, check.floor)
            limit = -k if check.low_is_bad else k
            relative = bad(z, limit) & ~flagged
            bound = median + limit * scale
            bound = float(10 ** bound - 1e-6) if check.log else bound
            ctx.info.setdefault("thresholds", {})[check.column] = bound
            for i in np.flatnonzero(relative):
                details[int(i)] = (f"{check.what} {_num(values[i])} {sign} {_num(bound)} "
                                   f"(robust z {z[i]:.1f}, {check.relative} {_num(k)})")
            flagged |= relative
        rows = np.array(sorted(details), dtype=np.int64)
        return check.issue, rows, [details[i] for i in rows.tolist()]

    def _shape_issues(self, table: pa.Table) -> list[tuple[str, np.ndarray, list[str]]]:
        w = table.column(WIDTH).to_numpy().astype(np.float64)
        h = table.column(HEIGHT).to_numpy().astype(np.float64)
        short, long = np.minimum(w, h), np.maximum(w, h)
        out = []
        if self._on("odd size"):
            size = np.sqrt(w * h)
            median = float(np.median(size))
            factor = self.size_factor
            details = {}
            for i in np.flatnonzero(size > median * factor if factor else np.zeros(len(w), bool)):
                details[int(i)] = f"{w[i]:.0f}x{h[i]:.0f} is {size[i] / median:.3g}x the median size {median:.0f}"
            for i in np.flatnonzero(size < median / factor if factor else np.zeros(len(w), bool)):
                details[int(i)] = f"{w[i]:.0f}x{h[i]:.0f} is 1/{median / max(size[i], 1e-9):.3g} of the median size " \
                                  f"{median:.0f}"
            for i in np.flatnonzero(short < self.min_side if self.min_side is not None else np.zeros(len(w), bool)):
                details[int(i)] = f"{w[i]:.0f}x{h[i]:.0f}, shorter side {short[i]:.0f} < min_side {self.min_side}"
            rows = np.array(sorted(details), dtype=np.int64)
            out.append(("odd size", rows, [details[i] for i in rows.tolist()]))
        if self._on("odd aspect ratio") and self.max_aspect_ratio is not None:
            ratio = long / np.maximum(short, 1)
            rows = np.flatnonzero(ratio > self.max_aspect_ratio)
            out.append(("odd aspect ratio", rows,
                        [f"{_num(ratio[i])} > max_aspect_ratio {_num(self.max_aspect_ratio)}" for i in rows]))
        return out


def robust_z(values: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """``(x - median) / (1.4826 * MAD)``: a z-score that a few outliers do not move. When more
    than half the values are equal (MAD 0), the mean absolute deviation (times 1.2533) stands
    in; the scale is at least ``floor``; when every value is equal (and no floor), every z is 0.

    >>> robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0])).round(2).tolist()
    [-1.35, -0.67, 0.0, 0.67, 65.43]
    """
    median, scale = _center_scale(values, floor)
    return (values - median) / scale if scale > 0 else np.zeros(len(values))


def _center_scale(values: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    if not len(values):
        return 0.0, floor
    median = float(np.median(values))
    deviation = np.abs(values - median)
    scale = 1.4826 * float(np.median(deviation)) or 1.2533 * float(deviation.mean())
    return median, max(scale, floor)


def _log(values: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(values, 0) + 1e-6)


def _reasons(ids: pa.ChunkedArray, found: list[tuple[str, np.ndarray, list[str]]], n: int) -> pa.Table:
    """One reason per flagged record: its first issue, the others named after ``also``."""
    first: dict[int, str] = {}
    others: dict[int, list[str]] = {}
    for issue, rows, details in found:
        for row, detail in zip(rows.tolist(), details):
            if row not in first:
                first[row] = reason(issue, detail)
            elif issue != first[row].split(":")[0] and issue not in others.get(row, []):
                others.setdefault(row, []).append(issue)
    rows = sorted(first)
    texts = [first[r] + (f" (also {', '.join(others[r])})" if r in others else "") for r in rows]
    return pa.table({"id": pc.take(ids, pa.array(rows, pa.int64())), "reason": pa.array(texts, pa.string())})


def _num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)
