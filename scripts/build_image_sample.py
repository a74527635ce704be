#!/usr/bin/env python3
"""Build the bundled image sample ``examples/data/images/`` and the image fixtures of the tests.

All pictures come from Debian packages fetched by ``scripts/install_image_data.sh`` (unpacked,
not installed, under ``bench/.data/debs/``; an installed package's system paths work too):
``tuxpaint-stamps-default`` (photo cut-outs and cartoons in category folders, GPL-2),
``opencv-doc`` (``examples/data``: photos, stereo pairs, real blur) and ``visp-images-data``
(video frames).  Nothing is drawn: degraded copies are planted from real images and recorded.

Writes
- ``examples/data/images/<class>/...``: an ImageFolder (one folder per tuxpaint category, plus
  ``scenes`` of opencv photos and visp frames), max side 192 px, JPEG (photos) and PNG
  (cartoons, symbols, frames); tuxpaint's transparency is flattened on white.  Planted issues
  (exact copies, a re-encoded copy, near duplicates, blur, dark, bright, grayscale) and natural
  ones (stereo pairs, consecutive frames, mirrored stamps, real motion/defocus blur) are listed
  in ``examples/data/images/TRUTH.json``.
- ``tests/data/bad_images/``: one file per hard case for the image reader (zero bytes, truncated,
  not an image, decompression bomb, CMYK, 16-bit, palette + transparency, animated, EXIF
  orientation) and ``EXPECTED.json`` with what decoding each must give.
- ``tests/data/images.tar`` (WebDataset: ``key.jpg`` + ``key.json`` + ``key.cls`` + ``key.txt``;
  the class index in ``.cls``, its name as ``category`` in ``.json``, tuxpaint's caption in ``.txt``)
  and ``tests/data/image_tables/`` (Parquet with image bytes, Parquet/CSV/JSONL with relative
  paths to ``files/``), all of the same few images.

Deterministic: sorted walks, a fixed seed, no timestamps in the tar, so two runs on the same
packages give identical files.  Needs numpy, Pillow and pyarrow (the core dependencies).

This module is also the image library of ``bench/image_corpus.py``.

    scripts/install_image_data.sh
    python scripts/build_image_sample.py                      # sample + test fixtures
    python scripts/build_image_sample.py --debs DIR --out /tmp/images --seed 1
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
DEBS = REPO / "bench" / ".data" / "debs"
SAMPLE_OUT = REPO / "examples" / "data" / "images"
TESTS_DATA = REPO / "tests" / "data"
SEED = 20240607
WHITE = (255, 255, 255)

PACKAGE_ROOTS = {  # package -> its image folder, relative to the unpacked (or installed) root
    "tuxpaint-stamps-default": "usr/share/tuxpaint/stamps",
    "opencv-doc": "usr/share/doc/opencv-doc/examples/data",
    "visp-images-data": "usr/share/visp-images-data/ViSP-images",
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm"}


def package_root(package: str, debs: Path = DEBS) -> Path | None:
    """The image folder of a package: unpacked under ``debs/<package>/`` or installed in /."""
    for base in (debs / package, Path("/")):
        p = base / PACKAGE_ROOTS[package]
        if p.is_dir():
            return p
    return None


def package_version(package: str, debs: Path = DEBS) -> str:
    marker = debs / package / ".unpacked"
    if marker.is_file():
        return marker.read_text().strip()
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


# --------------------------------------------------------------------------------------
# Originals: where each real image comes from, its label and its natural near-duplicates
# --------------------------------------------------------------------------------------

@dataclass
class Src:
    """One real image of a package."""
    path: Path
    package: str
    source: str             # tuxpaint | opencv | opencv-digits | visp | sklearn
    rel: str                # path inside the package's image folder
    label: str              # tuxpaint category, or the source for the others
    style: str = "photo"    # photo | cartoon | symbol (tuxpaint), photo | frame | synthetic
    caption: str = ""
    group: str | None = None    # natural near-duplicate group (same scene, frames, mirrors)
    natural_blur: bool = False  # really blurred in the package (motion, defocus, filtered)
    crop: tuple[int, int, int, int] | None = None   # a cell of a larger image (digits)
    extra: dict = field(default_factory=dict)


def _tux_caption(png: Path) -> str:
    txt = png.with_suffix(".txt")
    if not txt.is_file():
        return ""
    first = txt.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    return first[0].strip() if first else ""


# Tuxpaint stamps that are variants of each other (colour variants, letters that are mirror
# images, the same dreidel with another letter): pairs a perceptual hash cannot tell apart,
# which a fair precision must not count as false positives.  "X_mirror.png" is paired with
# "X.png" by rule; byte-identical stamps are grouped by the builders.
_TUX_FAMILIES = {
    "seasonal/hanukkah/dreydl": "tuxpaint:dreidel",
    "town/roadsigns/stoplight_": "tuxpaint:stoplight",
    "town/flags/": "tuxpaint:flags",
    "food/fruit/apple_": "tuxpaint:apple",
    "symbols/money/euro/coins/": "tuxpaint:euro-coins",
    "symbols/math/operators/op6_lessthan": "tuxpaint:less-greater",
    "symbols/math/operators/op7_greaterthan": "tuxpaint:less-greater",
    "symbols/math/operators/op8_lessthanequal": "tuxpaint:less-greater-equal",
    "symbols/math/operators/op9_greaterthanequal": "tuxpaint:less-greater-equal",
}
_TUX_LETTER_MIRRORS = {"b": "bd", "d": "bd", "p": "pq", "q": "pq"}


def _tux_group(rel: str, mirrored: set[str]) -> str | None:
    for prefix, group in _TUX_FAMILIES.items():
        if rel.startswith(prefix):
            return group
    p = Path(rel)
    if p.stem.endswith("_mirror") or (p.parent / f"{p.stem}_mirror.png").as_posix() in mirrored:
        return f"tuxpaint:mirror:{(p.parent / p.stem.removesuffix('_mirror')).as_posix()}"
    if "alphabets/english" in rel:
        letter = p.stem.split("_")[0]
        if letter in _TUX_LETTER_MIRRORS:        # lowercase b/d, p/q: mirror images
            return f"tuxpaint:letters-{_TUX_LETTER_MIRRORS[letter]}:{p.parent.as_posix()}"
        if letter.lower() in "cosuvwxz":     # same shape in both cases
            return f"tuxpaint:letter-{letter.lower()}:{p.parent.parent.as_posix()}"
    return None


def tuxpaint_sources(root: Path) -> list[Src]:
    """Every PNG stamp, sorted; label = top category folder; style from the folder names."""
    pngs = sorted(root.rglob("*.png"))
    mirrored = {p.relative_to(root).as_posix() for p in pngs if p.stem.endswith("_mirror")}
    out = []
    for p in pngs:
        rel = p.relative_to(root).as_posix()
        parts = rel.split("/")
        style = "cartoon" if "cartoon" in parts[:-1] else "symbol" if parts[0] == "symbols" else "photo"
        out.append(Src(p, "tuxpaint-stamps-default", "tuxpaint", rel, parts[0], style, _tux_caption(p),
                       _tux_group(rel, mirrored)))
    return out


# opencv-doc examples/data: files showing the same scene (stereo pairs, consecutive video
# frames, the calibration board from 26 poses, two versions of an edited photo).
OPENCV_GROUPS = {
    "opencv:suzanne": ["Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg"],
    "opencv:aero": ["aero1.jpg", "aero3.jpg"],
    "opencv:aloe": ["aloeL.jpg", "aloeR.jpg", "aloeGT.png"],
    "opencv:basketball": ["basketball1.png", "basketball2.png"],
    "opencv:graf": ["graf1.png", "graf3.png"],
    "opencv:leuven": ["leuvenA.jpg", "leuvenB.jpg"],
    "opencv:rubberwhale": ["rubberwhale1.png", "rubberwhale2.png"],
    "opencv:ela": ["ela_original.jpg", "ela_modified.jpg"],
    "opencv:stereo-left-right": ["left.jpg", "right.jpg"],
    "opencv:image-text": ["imageTextN.png", "imageTextR.png"],
    "opencv:logo": ["opencv-logo.png", "opencv-logo-white.png"],
    "opencv:mask-tmpl": ["mask.png", "tmpl.png"],
    "opencv:box": ["box.png", "box_in_scene.png"],
    "opencv:calibration": [f"{s}{i:02d}.jpg" for s in ("left", "right") for i in range(1, 15) if i != 10],
}
OPENCV_BLUR = {"text_defocus.jpg", "text_motion.jpg", "licenseplate_motion.jpg"}
OPENCV_SYNTHETIC = {"chessboard.png", "gradient.png", "pic1.png", "pic3.png", "pic5.png", "pic6.png",
                    "mask.png", "tmpl.png", "templ.png", "detect_blob.png", "ellipses.jpg", "notes.png",
                    "LinuxLogo.jpg", "WindowsLogo.jpg", "opencv-logo.png", "opencv-logo-white.png",
                    "HappyFish.jpg", "ml.png", "cards.png", "pic2.png", "pic4.png", "blox.jpg"}


def opencv_sources(root: Path, digits: int = 10) -> list[Src]:
    """The images of examples/data, sorted; plus ``digits`` single 20x20 cells of digits.png
    (the first of each class 0-9: real tiny images; 0 = none)."""
    group_of = {f: g for g, files in OPENCV_GROUPS.items() for f in files}
    out = []
    for p in sorted(root.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        style = "synthetic" if p.name in OPENCV_SYNTHETIC else "photo"
        out.append(Src(p, "opencv-doc", "opencv", p.name, "opencv", style, group=group_of.get(p.name),
                       natural_blur=p.name in OPENCV_BLUR))
    sheet = root / "digits.png"
    if digits and sheet.is_file():   # 50 rows x 100 columns of 20x20 cells, 5 rows per digit
        for d in range(min(digits, 10)):
            box = (0, d * 100, 20, d * 100 + 20)
            out.append(Src(sheet, "opencv-doc", "opencv-digits", f"digits.png#{d}", "opencv-digits", "synthetic",
                           caption=str(d), crop=box))
    return out


def _visp_group(rel: str) -> str | None:
    top = rel.split("/")[0]
    merged = {"Gaussian-filter": "Klimt", "warp": "Klimt", "Klimt": "Klimt", "faces": "Solvay", "Solvay": "Solvay",
              "mire": "mire", "circle": "circle", "calibration": "calibration"}
    if top in merged:
        return f"visp:{merged[top]}"
    parent = Path(rel).parent.as_posix()
    if parent.startswith("AprilTag/benchmark"):
        return "visp:apriltag-benchmark"
    if rel == "mbt/cube.ppm":
        return "visp:mbt/cube"
    if rel == "mbt-depth/castel/chateau.ppm":
        return "visp:mbt-depth/castel/castel"
    if parent in ("AprilTag", "ellipse") or "/" not in rel:
        return None
    return f"visp:{parent}"      # a video sequence: consecutive frames


def visp_sources(root: Path) -> list[Src]:
    """Every image of ViSP-images, sorted: sequences of video frames and a few test images."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        group = _visp_group(rel)
        blurred = "blur_sigma=" in p.name and not p.name.endswith("sigma=0.5.png")
        style = "frame" if group and group.split(":")[1] not in ("Klimt", "Solvay") else "photo"
        out.append(Src(p, "visp-images-data", "visp", rel, "visp", style, group=group, natural_blur=blurred))
    return out


def sklearn_sources() -> list[Src]:
    """scikit-learn's two sample photos (``load_sample_images``), read from the installed package."""
    try:
        import sklearn  # noqa: F401  (only its data folder is read)
    except ImportError:
        return []
    folder = Path(sys.modules["sklearn"].__file__).parent / "datasets" / "images"
    return [Src(p, "scikit-learn", "sklearn", p.name, "sklearn") for p in sorted(folder.glob("*.jpg"))]


def mark_exact_duplicates(srcs: list[Src]) -> None:
    """Byte-identical files in a package form a natural group (tuxpaint ships a few twice)."""
    by_hash: dict[str, list[Src]] = {}
    for s in srcs:
        if s.crop is None:
            by_hash.setdefault(hashlib.sha256(s.path.read_bytes()).hexdigest(), []).append(s)
    for same in by_hash.values():
        if len(same) > 1:
            group = same[0].group or f"{same[0].source}:identical:{same[0].rel}"
            for s in same:
                s.group = group


# --------------------------------------------------------------------------------------
# Pixels: decoding, flattening, fitting, encoding
# --------------------------------------------------------------------------------------

def flatten(im: Image.Image) -> Image.Image:
    """RGB, EXIF-oriented, first frame, transparency composited on white, 16-bit reduced."""
    im.seek(0)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        im = Image.fromarray((np.asarray(im, dtype=np.uint32) >> 8).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, WHITE + (255,))
        bg.alpha_composite(rgba)
        return bg.convert("RGB")
    return im.convert("RGB")


def load(src: Src) -> Image.Image:
    """The source as an RGB image (a cell of a sheet for the digits)."""
    with Image.open(src.path) as im:
        im.load()
        if src.crop:
            im = im.crop(src.crop)
        return flatten(im)


def native_mode(src: Src) -> str:
    """'L' for images stored in grayscale (keep them so), else 'RGB'."""
    with Image.open(src.path) as im:
        return "L" if im.mode in ("L", "LA", "I;16", "I", "1") else "RGB"


def fit(im: Image.Image, max_side: int) -> Image.Image:
    """Downsize (never enlarge) so the longer side is at most max_side."""
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    s = max_side / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def encode(im: Image.Image, fmt: str, quality: int = 90, png_level: int = 9) -> bytes:
    """Deterministic JPEG (quality, 4:2:0) or PNG (zlib level) bytes of an RGB or L image."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, "PNG", compress_level=png_level)
    return buf.getvalue()


def is_gray(im: Image.Image) -> bool:
    """True when the channels agree (gray stored as RGB, or an L image)."""
    if im.mode == "L":
        return True
    a = np.asarray(im.convert("RGB"), dtype=np.int16)
    return float(np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean()) < 1.0


def near_white_share(im: Image.Image) -> float:
    a = np.asarray(im.convert("L"))
    return float((a >= 245).mean())


# --------------------------------------------------------------------------------------
# Planted degradations: kind -> (function(image, rng) -> (image, params), format rule)
# --------------------------------------------------------------------------------------

def _gauss_kernel(sigma: float) -> np.ndarray:
    r = int(np.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def gaussian_blur(im: Image.Image, sigma: float) -> Image.Image:
    """Exact separable Gaussian blur (standard deviation sigma px, reflected borders)."""
    a = np.asarray(im, dtype=np.float64)
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r, r)
        p = np.pad(a, pad, mode="symmetric" if a.shape[axis] > r else "edge")
        a = sum(k[i] * np.take(p, np.arange(i, i + a.shape[axis]), axis=axis) for i in range(len(k)))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), im.mode)


def _scale(im: Image.Image, f: Callable[[np.ndarray], np.ndarray]) -> Image.Image:
    a = f(np.asarray(im, dtype=np.float64))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), im.mode)


def _crop(im: Image.Image, frac: float, rng: random.Random) -> tuple[Image.Image, dict]:
    w, h = im.size
    cw, ch = max(1, round(w * frac)), max(1, round(h * frac))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return im.crop((x, y, x + cw, y + ch)), {"side": frac, "box": [x, y, x + cw, y + ch]}


def _noise(im: Image.Image, sigma: float, rng: random.Random) -> tuple[Image.Image, dict]:
    seed = rng.getrandbits(32)
    g = np.random.default_rng(seed).normal(0, sigma, np.asarray(im).shape)
    return _scale(im, lambda a: a + g), {"sigma": sigma, "seed": seed}


def _rotate(im: Image.Image, rng: random.Random) -> tuple[Image.Image, dict]:
    deg = rng.choice((-10, 10))
    fill = 255 if im.mode == "L" else WHITE
    return im.rotate(deg, Image.Resampling.BICUBIC, expand=False, fillcolor=fill), {"degrees": deg, "fill": "white"}


Degrade = Callable[[Image.Image, random.Random], "tuple[Image.Image, dict]"]
DEGRADATIONS: dict[str, Degrade] = {
    # near duplicates
    "jpeg25": lambda im, r: (im, {"quality": 25}),
    "resize50": lambda im, r: (im.resize((max(1, round(im.width / 2)), max(1, round(im.height / 2))),
                                         Image.Resampling.LANCZOS), {"factor": 0.5}),
    "crop90": lambda im, r: _crop(im, 0.9, r),
    "crop75": lambda im, r: _crop(im, 0.75, r),
    "flip": lambda im, r: (ImageOps.mirror(im), {"axis": "horizontal"}),
    "rot10": _rotate,
    "noise": lambda im, r: _noise(im, 12.0, r),
    # quality issues (also near duplicates of their original)
    "blur3": lambda im, r: (gaussian_blur(im, 3.0), {"sigma": 3.0}),
    "dark": lambda im, r: (_scale(im, lambda a: a * 0.25), {"formula": "0.25 * v"}),
    "bright": lambda im, r: (_scale(im, lambda a: 255 - (255 - a) * 0.25), {"formula": "255 - 0.25 * (255 - v)"}),
    "gray": lambda im, r: (ImageOps.grayscale(im).convert("RGB"), {"how": "ITU-R 601-2 luma, stored as RGB"}),
}
KINDS = ["exact", "reencode", *DEGRADATIONS]   # exact: the same bytes; reencode: same pixels


def plant(kind: str, data: bytes, fmt: str, rng: random.Random, png_level: int = 9) -> tuple[bytes, str, dict]:
    """A planted copy of an encoded original: (bytes, format, params).  Lossy kinds keep the
    original's format (JPEG quality 90), ``jpeg25`` is JPEG quality 25, ``reencode`` switches
    JPEG <-> PNG keeping the decoded pixels (a JPEG original becomes a PNG; a PNG one a PNG
    with other compression settings), ``exact`` is a byte copy."""
    if kind == "exact":
        return data, fmt, {}
    with Image.open(io.BytesIO(data)) as src:
        im = src.convert("L") if src.mode == "L" else flatten(src)
    if kind == "reencode":
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=1 if fmt == "PNG" else 9)
        out = buf.getvalue()
        assert out != data, "reencode gave the same bytes"
        return out, "PNG", {"from": fmt, "to": "PNG"}
    if kind == "gray" and im.mode == "L":
        raise ValueError("gray planted on a gray image")
    out, params = DEGRADATIONS[kind](im, rng)
    q = 25 if kind == "jpeg25" else 90
    ofmt = "JPEG" if kind == "jpeg25" else fmt
    return encode(out, ofmt, q, png_level), ofmt, params


EXT = {"JPEG": ".jpg", "PNG": ".png"}


# --------------------------------------------------------------------------------------
# The bundled sample
# --------------------------------------------------------------------------------------

SAMPLE_MAX_SIDE = 176
SAMPLE_QUOTAS = {"animals": 60, "food": 45, "household": 25, "plants": 35, "seasonal": 35, "town": 45,
                 "vehicles": 30}
# opencv photos and visp frames in the "scenes" class: natural near-duplicate pairs, real blur.
SAMPLE_SCENES_OPENCV = ["Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg", "aero1.jpg", "aero3.jpg", "aloeL.jpg",
                        "aloeR.jpg", "leuvenA.jpg", "leuvenB.jpg", "rubberwhale1.png", "rubberwhale2.png",
                        "left.jpg", "right.jpg", "basketball1.png", "basketball2.png", "graf1.png", "graf3.png",
                        "apple.jpg", "baboon.jpg", "butterfly.jpg", "fruits.jpg", "home.jpg", "messi5.jpg",
                        "orange.jpg", "starry_night.jpg", "squirrel_cls.jpg", "smarties.png", "building.jpg",
                        "text_defocus.jpg", "text_motion.jpg", "licenseplate_motion.jpg"]
SAMPLE_SCENES_VISP = ["cube/image.0000.pgm", "cube/image.0001.pgm", "cube/image.0002.pgm",
                      "mire-2/image.0001.pgm", "mire-2/image.0002.pgm", "Klimt/Klimt.png",
                      "Gaussian-filter/Klimt_RGB_Gaussian_blur_sigma=5.0.png"]
# (kind, how many) planted in the sample; exact copies: one goes to another class folder.
SAMPLE_PLANTS = [("exact", 3), ("reencode", 1), ("jpeg25", 1), ("resize50", 1), ("flip", 1), ("crop90", 1),
                 ("blur3", 2), ("dark", 1), ("bright", 1), ("gray", 1)]
SUFFIX = {"exact": "copy", "reencode": "png", "jpeg25": "q25", "resize50": "small", "flip": "flip",
          "crop90": "crop", "crop75": "crop75", "rot10": "rot", "noise": "noisy", "blur3": "blur", "dark": "dark",
          "bright": "bright", "gray": "gray"}


def _sample_name(src: Src) -> str:
    if src.source == "tuxpaint":
        return "_".join(Path(src.rel).parts[1:])
    return f"{src.source}_{src.rel.replace('/', '_')}"


def _sample_format(src: Src) -> str:
    """PNG for drawings (tuxpaint cartoons and symbols), JPEG for photos and frames."""
    return "PNG" if src.source == "tuxpaint" and src.style in ("cartoon", "symbol") else "JPEG"


def select_sample(debs: Path, seed: int) -> list[tuple[str, Src]]:
    """(class, source) for every original of the sample, in a fixed order."""
    tux_root, cv_root, visp_root = (package_root(p, debs) for p in PACKAGE_ROOTS)
    if not tux_root:
        raise SystemExit("tuxpaint-stamps-default not found: run scripts/install_image_data.sh")
    rng = random.Random(seed)
    tux = tuxpaint_sources(tux_root)
    mark_exact_duplicates(tux)
    chosen: list[tuple[str, Src]] = []
    for cls, quota in SAMPLE_QUOTAS.items():
        pool = []
        for s in tux:
            if s.label == cls:
                with Image.open(s.path) as im:
                    if min(im.size) >= 48:
                        pool.append(s)
        chosen += [(cls, s) for s in sorted(rng.sample(pool, min(quota, len(pool))), key=lambda s: s.rel)]
    if cv_root:
        by_name = {s.rel: s for s in opencv_sources(cv_root, digits=0)}
        chosen += [("scenes", by_name[n]) for n in SAMPLE_SCENES_OPENCV if n in by_name]
    if visp_root:
        by_rel = {s.rel: s for s in visp_sources(visp_root)}
        chosen += [("scenes", by_rel[n]) for n in SAMPLE_SCENES_VISP if n in by_rel]
    return chosen


def _pick_victims(entries: list[dict], rng: random.Random) -> dict[str, list[dict]]:
    """Originals for each planted kind, all different: photos for the near duplicates,
    full-frame colour photos for dark/bright/gray (so the issue is the plant, not the white
    background of a cut-out)."""
    photos = sorted((e for e in entries if e["style"] == "photo" and e["source"] == "tuxpaint"
                     and min(e["width"], e["height"]) >= 96), key=lambda e: e["id"])
    full = sorted((e for e in entries if e["style"] == "photo" and not e["gray"] and e["white"] < 0.05
                   and e["natural_group"] is None and not e["natural_blur"]), key=lambda e: (e["white"], e["id"]))
    used: set[str] = set()
    out: dict[str, list[dict]] = {}
    for kind, n in SAMPLE_PLANTS:
        pool = full if kind in ("dark", "bright", "gray") else photos
        pool = [e for e in pool if e["id"] not in used]
        picks = pool[:n] if pool is full else rng.sample(pool, n)
        used.update(e["id"] for e in picks)
        out[kind] = picks
    return out


def build_sample(out: Path, debs: Path, seed: int = SEED, max_side: int = SAMPLE_MAX_SIDE) -> dict:
    """Write the ImageFolder sample and its TRUTH.json; returns the truth."""
    rng = random.Random(seed)
    chosen = select_sample(debs, seed)
    if out.exists():
        shutil.rmtree(out)
    entries: list[dict] = []
    data_of: dict[str, tuple[bytes, str]] = {}
    for cls, src in chosen:
        im = fit(load(src), max_side)
        mode = native_mode(src)
        if mode == "L":
            im = im.convert("L")
        fmt = _sample_format(src)
        data = encode(im, fmt, 88)
        rel = f"{cls}/{Path(_sample_name(src)).stem}{EXT[fmt]}"
        assert rel not in data_of, rel
        data_of[rel] = (data, fmt)
        entries.append({"id": rel, "class": cls, "source": src.source, "package": src.package,
                        "from": f"{PACKAGE_ROOTS.get(src.package, '')}/{src.rel}".lstrip("/"), "style": src.style,
                        "caption": src.caption, "width": im.width, "height": im.height, "format": fmt,
                        "natural_group": src.group, "natural_blur": src.natural_blur,
                        "gray": mode == "L" or is_gray(im), "white": round(near_white_share(im), 4)})
    planted = []
    classes = sorted({e["class"] for e in entries})
    for kind, victims in _pick_victims(entries, rng).items():
        for k, e in enumerate(victims):
            data, fmt = data_of[e["id"]]
            pdata, pfmt, params = plant(kind, data, fmt, rng)
            cls = e["class"]
            if kind == "exact" and k == len(victims) - 1:    # one copy filed under another class
                cls = classes[(classes.index(cls) + 1) % len(classes)]
            rel = f"{cls}/{Path(e['id']).stem}_{SUFFIX[kind]}{EXT[pfmt]}"
            data_of[rel] = (pdata, pfmt)
            with Image.open(io.BytesIO(pdata)) as im:
                size = im.size
            planted.append({"id": rel, "kind": kind, "original": e["id"], "class": cls,
                            "width": size[0], "height": size[1], "format": pfmt, "params": params})
    for rel, (data, _fmt) in sorted(data_of.items()):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    groups: dict[str, list[str]] = {}
    for e in entries:
        if e["natural_group"]:
            groups.setdefault(e["natural_group"], []).append(e["id"])
    truth = {
        "about": "Real images from Debian packages (see README.md); planted issues with known originals. "
                 "Built by scripts/build_image_sample.py; ids are paths relative to this folder.",
        "seed": seed, "max_side": max_side,
        "packages": {p: package_version(p, debs) for p in PACKAGE_ROOTS},
        "counts": {"originals": len(entries), "planted": len(planted), "files": len(data_of),
                   "bytes": sum(len(d) for d, _ in data_of.values())},
        "planted": planted,
        "natural_groups": {g: ids for g, ids in sorted(groups.items()) if len(ids) > 1},
        "natural_blur": [e["id"] for e in entries if e["natural_blur"]],
        "gray": [e["id"] for e in entries if e["gray"]],
        "originals": [{k: v for k, v in e.items() if k not in ("natural_blur", "gray", "package")}
                      for e in entries],
    }
    (out / "TRUTH.json").write_text(dump_json(truth), encoding="utf-8")
    (out / "README.md").write_text(sample_readme(truth), encoding="utf-8")
    return truth


def sample_readme(truth: dict) -> str:
    """The sample's README.md: what it holds, where it comes from, what TRUTH.json says."""
    by_class: dict[str, int] = {}
    for e in truth["originals"] + truth["planted"]:
        by_class[e["class"]] = by_class.get(e["class"], 0) + 1
    kinds: dict[str, int] = {}
    for p in truth["planted"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    c, v = truth["counts"], truth["packages"]
    return f"""# `images/`: a small real image sample (ImageFolder layout)

{c['files']} images ({c['originals']} originals, {c['planted']} planted copies; {c['bytes'] / 1e6:.2f} MB), max side
{truth['max_side']} px, one folder per class: {', '.join(f'`{k}` {n}' for k, n in sorted(by_class.items()))}.
Read it with `input: {{path: examples/data/images, format: images, label_from: folder}}`.

Built by `scripts/build_image_sample.py` (after `scripts/install_image_data.sh`) from images that
Debian ships; nothing is drawn or generated:

- the tuxpaint category folders: stamps of `tuxpaint-stamps-default` {v['tuxpaint-stamps-default']}
  (GPL-2): photo cut-outs, and drawings (their names say `cartoon`); transparency flattened on
  white; JPEG for photos, PNG for drawings;
- `scenes`: `opencv-doc` {v['opencv-doc']} `examples/data` (Apache-2.0 / BSD-3-Clause: photos,
  stereo pairs, real motion and defocus blur) and `visp-images-data` {v['visp-images-data']}
  (GPL-2: video frames, the Klimt test image), as JPEG.

`style` in TRUTH.json is read from tuxpaint's folders (`cartoon` folders are drawings); some
stamps outside them are clip-art renders too (dreidels, houses), so "photo" is approximate.

## TRUTH.json (not an image: the reader skips it)

- `planted`: each copy made from an original of this folder, its `kind` and `params`:
  {', '.join(f'{k} {n}' for k, n in kinds.items())}. `exact` is the same bytes (one copy is filed under
  another class), `reencode` the same pixels as PNG, `jpeg25` JPEG quality 25, `resize50` half size,
  `flip` mirrored, `crop90` 90% of each side, `blur3` Gaussian blur sigma 3 px, `dark` 0.25 v, `bright`
  255 - 0.25 (255 - v), `gray` luma stored as RGB.
- `natural_groups`: originals that show the same scene in the packages (stereo pairs, consecutive
  frames, a stamp and its mirror image): real near duplicates, not planted.
- `natural_blur`: originals blurred in the package (motion, defocus, a Gaussian-filtered Klimt).
- `gray`: originals that are grayscale (video frames, gray photos).
- `originals`: every original with its class, source, package path (`from`), `style`, tuxpaint's
  English `caption`, size, format and `white` (share of near-white pixels: cut-outs on white are
  mostly white, which a naive "too light" check mistakes for overexposure).
"""


def dump_json(doc: dict) -> str:
    """JSON with one line per top-level key, per list item and per dict entry below it."""
    def one(v) -> str:
        return json.dumps(v, ensure_ascii=False, sort_keys=False)

    lines = []
    for k, v in doc.items():
        if isinstance(v, list) and v:
            body = ",\n".join("  " + one(x) for x in v)
            lines.append(f"{one(k)}: [\n{body}\n ]")
        elif isinstance(v, dict) and v:
            body = ",\n".join(f"  {one(kk)}: {one(vv)}" for kk, vv in v.items())
            lines.append(f"{one(k)}: {{\n{body}\n }}")
        else:
            lines.append(f"{one(k)}: {one(v)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


# --------------------------------------------------------------------------------------
# Test fixtures: hard cases for the reader, WebDataset tar, tables
# --------------------------------------------------------------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def crafted_png(width: int, height: int, bit_depth: int, color_type: int, raw_rows: bytes) -> bytes:
    """A PNG from its IHDR fields and the filtered scanlines (each row: filter byte + data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(raw_rows, 9)) + _png_chunk(b"IEND", b""))


def bomb_png(side: int) -> bytes:
    """A valid 1-bit black PNG of side x side pixels: about side^2/8/1000 bytes on disk."""
    row = b"\x00" * (1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def _expect(data: bytes) -> dict:
    """What a correct decoder gives for an image: size after orientation, Pillow's format and
    mode, and the mean and a few pixels of the RGB (oriented, first frame, flattened on white)."""
    with Image.open(io.BytesIO(data)) as im:
        fmt, mode, stored = im.format, im.mode, im.size
        frames = getattr(im, "n_frames", 1)
        rgb = flatten(im)
    a = np.asarray(rgb)
    h, w = a.shape[:2]
    probes = {f"{x},{y}": a[y, x].tolist() for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w // 2, h // 2))}
    return {"ok": True, "format": fmt, "mode": mode, "stored_size": list(stored), "width": w, "height": h,
            "frames": frames, "mean_rgb": [round(float(v), 2) for v in a.reshape(-1, 3).mean(0)],
            "pixels_xy": probes, "tolerance": 2}


def build_bad_images(out: Path, tux_root: Path, visp_root: Path | None, cv_root: Path | None) -> dict:
    """One small file per hard case and EXPECTED.json (facts checked with Pillow here).  The
    photo is opencv's fruits.jpg (tuxpaint's lion without opencv-doc), 96x64 px, so that the
    probe pixels and the size tell a wrong orientation or colour conversion apart."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    base = cv_root / "fruits.jpg" if cv_root and (cv_root / "fruits.jpg").is_file() else (
        tux_root / "animals/mammals/cats/lion.png")
    with Image.open(base) as im:
        photo = ImageOps.fit(flatten(im), (96, 64), Image.Resampling.LANCZOS)
    jpg = encode(photo, "JPEG", 90)
    png = encode(photo, "PNG")
    files: dict[str, tuple[bytes, dict]] = {}
    bad = {"ok": False}
    files["zero_bytes.jpg"] = (b"", dict(bad, problem="zero bytes"))
    files["truncated.jpg"] = (jpg[: len(jpg) // 2], dict(bad, problem="truncated JPEG (first half of the file)"))
    files["truncated.png"] = (png[: len(png) // 2], dict(bad, problem="truncated PNG (first half of the file)"))
    files["not_an_image.png"] = (b"This is a text file, not a PNG.\n",
                                 dict(bad, problem="not an image (text with a .png name)"))
    files["bomb_30000.png"] = (bomb_png(30000), dict(
        bad, problem="decompression bomb: a valid 1-bit PNG of 30000x30000 = 900M pixels, over twice Pillow's "
                     "MAX_IMAGE_PIXELS, so Image.open raises DecompressionBombError", declared_size=[30000, 30000]))
    files["large_10000.png"] = (bomb_png(10000), {
        "ok": None, "declared_size": [10000, 10000], "format": "PNG", "mode": "1",
        "problem": "100M pixels: over Pillow's MAX_IMAGE_PIXELS (89.5M) but under twice it, so Pillow only warns "
                   "(DecompressionBombWarning) and decodes (300 MB as RGB): a reader should refuse it or reduce it; "
                   "all black"})
    cmyk = io.BytesIO()
    photo.convert("CMYK").save(cmyk, "JPEG", quality=90)
    files["cmyk.jpg"] = (cmyk.getvalue(), {"note": "CMYK JPEG of a real photo"})
    if visp_root and (visp_root / "cube/image.0000.pgm").is_file():
        frames = [fit(Image.open(visp_root / f"cube/image.{i:04d}.pgm").convert("L"), 96) for i in range(3)]
    else:
        frames = [photo.convert("L"), ImageOps.mirror(photo).convert("L"), photo.convert("L").rotate(90)]
    g16 = np.asarray(frames[0], dtype=np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(g16).save(buf, "PNG")   # mode I;16
    files["gray16.png"] = (buf.getvalue(), {"note": "16-bit grayscale PNG of a real video frame (v * 257)"})
    rgb16 = np.asarray(photo, dtype=np.uint16) * 257
    rows = b"".join(b"\x00" + r.astype(">u2").tobytes() for r in rgb16)
    files["rgb16.png"] = (crafted_png(photo.width, photo.height, 16, 2, rows),
                          {"note": "16-bit RGB PNG (48 bits per pixel) of a real photo (v * 257)"})
    pal_src = tux_root / "plants/flowers/flower1.png"
    if pal_src.is_file():
        with Image.open(pal_src) as im:
            pal = im.copy()
        buf = io.BytesIO()
        pal.save(buf, "PNG", transparency=pal.info["transparency"])
    else:
        buf = io.BytesIO()
        photo.convert("P", palette=Image.Palette.ADAPTIVE).save(buf, "PNG", transparency=0)
    files["palette_transparent.png"] = (buf.getvalue(), {"note": "palette PNG with tRNS transparency "
                                                         "(a tuxpaint stamp): transparent pixels become white"})
    buf = io.BytesIO()
    gif = [f.convert("P") for f in frames]
    gif[0].save(buf, "GIF", save_all=True, append_images=gif[1:], duration=100, loop=0)
    files["animated.gif"] = (buf.getvalue(), {"note": "3 consecutive video frames: the first frame is the image"})
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    files["exif_rotate90.jpg"] = (buf.getvalue(), {
        "note": "EXIF orientation 6: stored landscape-wise, shown rotated 90 degrees clockwise; width and "
                "height are after orientation"})
    expected = {}
    for name, (data, facts) in sorted(files.items()):
        (out / name).write_bytes(data)
        if "ok" in facts:     # a bad file: make sure Pillow does reject (or warn about) it
            _check_fails(name, data, warns_only=facts["ok"] is None)
            expected[name] = dict(facts, bytes=len(data))
        else:
            expected[name] = dict(_expect(data), **facts, bytes=len(data))
    _mark_same_pixels(out, expected)
    assert expected["exif_rotate90.jpg"]["stored_size"] == [photo.width, photo.height]
    assert (expected["exif_rotate90.jpg"]["width"], expected["exif_rotate90.jpg"]["height"]) == (photo.height,
                                                                                                 photo.width)
    doc = {"about": "Hard cases for the image reader, built by scripts/build_image_sample.py. ok=false: decoding "
                    "must fail with a clear error naming the file (or quarantine with 'invalid input: ...'); ok=true: "
                    "decoding must give an RGB array of width x height (after EXIF orientation, first frame, "
                    "transparency on white, 16 bits reduced to 8) whose mean and probe pixels ('x,y': [r,g,b]) "
                    "match within tolerance.",
           "files": expected}
    (out / "EXPECTED.json").write_text(dump_json(doc), encoding="utf-8")
    return doc


def _mark_same_pixels(folder: Path, expected: dict) -> None:
    """``same_pixels_as``: the other good files that decode to the very same RGB pixels (the
    16-bit PNG and the GIF's first frame are the same video frame)."""
    digests: dict[str, str] = {}
    for name, facts in expected.items():
        if facts.get("ok"):
            with Image.open(folder / name) as im:
                a = np.asarray(flatten(im))
            digests[name] = hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()
    for name, digest in digests.items():
        same = sorted(n for n, d in digests.items() if d == digest and n != name)
        if same:
            expected[name]["same_pixels_as"] = same


def _check_fails(name: str, data: bytes, warns_only: bool) -> None:
    """Make sure Pillow really rejects a bad file (or, with warns_only, opens it with a
    DecompressionBombWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if not warns_only:
                    im.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            if not warns_only:
                return
            raise
    if warns_only and any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught):
        return
    raise AssertionError(f"{name}: Pillow {'does not warn' if warns_only else 'decodes it'}")


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    tar.addfile(info, io.BytesIO(data))


def build_tables(tests_data: Path, truth: dict, sample: Path, n: int = 8, max_side: int = 96) -> list[dict]:
    """tests/data/images.tar (WebDataset) and tests/data/image_tables/ from n sample images."""
    originals = [e for e in truth["originals"] if e["source"] == "tuxpaint" and e["caption"]]
    step = max(1, len(originals) // n)
    rows = []
    for k, e in enumerate(originals[::step][:n]):
        with Image.open(sample / e["id"]) as im:
            im = fit(flatten(im), max_side)
        key = f"{k:06d}"
        rows.append({"key": key, "id": e["id"], "label": e["class"], "caption": e["caption"],
                     "jpg": encode(im, "JPEG", 85), "width": im.width, "height": im.height})
    labels = sorted({r["label"] for r in rows})
    tar_path = tests_data / "images.tar"
    with tarfile.open(tar_path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for r in rows:
            meta = {"category": r["label"], "caption": r["caption"], "sample_id": r["id"]}
            _tar_add(tar, f"{r['key']}.cls", f"{labels.index(r['label'])}\n".encode())
            _tar_add(tar, f"{r['key']}.jpg", r["jpg"])
            _tar_add(tar, f"{r['key']}.json", json.dumps(meta, sort_keys=True).encode())
            _tar_add(tar, f"{r['key']}.txt", r["caption"].encode())
    import pyarrow as pa
    import pyarrow.parquet as pq
    tables = tests_data / "image_tables"
    if tables.exists():
        shutil.rmtree(tables)
    (tables / "files").mkdir(parents=True)
    for r in rows:
        (tables / "files" / f"{r['key']}.jpg").write_bytes(r["jpg"])
    common = {"id": [r["key"] for r in rows], "label": [r["label"] for r in rows],
              "caption": [r["caption"] for r in rows]}
    pq.write_table(pa.table({**common, "image": pa.array([r["jpg"] for r in rows], pa.binary())}),
                   tables / "bytes.parquet")
    paths = [f"files/{r['key']}.jpg" for r in rows]
    pq.write_table(pa.table({**common, "image": paths}), tables / "paths.parquet")
    with open(tables / "paths.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "label", "caption", "image"])
        w.writerows(zip(common["id"], common["label"], common["caption"], paths))
    with open(tables / "paths.jsonl", "w", encoding="utf-8") as f:
        for i, lab, cap, p in zip(common["id"], common["label"], common["caption"], paths):
            f.write(json.dumps({"id": i, "label": lab, "caption": cap, "image": p}) + "\n")
    index = [{k: r[k] for k in ("key", "id", "label", "caption", "width", "height")} for r in rows]
    (tables / "INDEX.json").write_text(json.dumps({"about": "The images of images.tar and of these tables "
                                                   "(same bytes): key, the sample image it was made from, label, "
                                                   "caption, size.", "classes": labels, "rows": index}, indent=1)
                                       + "\n", encoding="utf-8")
    return index


def summarize(truth: dict, out: Path, file=sys.stdout) -> None:
    by_class: dict[str, int] = {}
    for e in truth["originals"]:
        by_class[e["class"]] = by_class.get(e["class"], 0) + 1
    styles: dict[str, int] = {}
    for e in truth["originals"]:
        styles[e["style"]] = styles.get(e["style"], 0) + 1
    kinds: dict[str, int] = {}
    for p in truth["planted"]:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    c = truth["counts"]
    print(f"{out}: {c['files']} images ({c['originals']} originals + {c['planted']} planted), "
          f"{c['bytes'] / 1e6:.2f} MB", file=file)
    print("  per class: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())), file=file)
    print("  styles: " + ", ".join(f"{k} {v}" for k, v in sorted(styles.items())), file=file)
    print("  planted: " + ", ".join(f"{k} {v}" for k, v in kinds.items()), file=file)
    print(f"  natural groups: {len(truth['natural_groups'])}, natural blur: {len(truth['natural_blur'])}, "
          f"gray: {len(truth['gray'])}", file=file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--debs", type=Path, default=DEBS, help="where install_image_data.sh unpacked the packages")
    ap.add_argument("--out", type=Path, default=SAMPLE_OUT)
    ap.add_argument("--tests-data", type=Path, default=TESTS_DATA,
                    help="where the reader fixtures go (bad_images/, images.tar, image_tables/)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-fixtures", action="store_true", help="build only the sample")
    args = ap.parse_args(argv)
    truth = build_sample(args.out, args.debs, args.seed)
    summarize(truth, args.out)
    if not args.no_fixtures:
        args.tests_data.mkdir(parents=True, exist_ok=True)
        tux = package_root("tuxpaint-stamps-default", args.debs)
        assert tux is not None
        doc = build_bad_images(args.tests_data / "bad_images", tux, package_root("visp-images-data", args.debs),
                               package_root("opencv-doc", args.debs))
        rows = build_tables(args.tests_data, truth, args.out)
        print(f"{args.tests_data}: bad_images/ ({len(doc['files'])} files), images.tar and image_tables/ "
              f"({len(rows)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
