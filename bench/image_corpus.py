#!/usr/bin/env python3
"""Build the image benchmark set: ~6,000 real images with planted degradations of known truth.

Originals (every image of the packages ``scripts/install_image_data.sh`` unpacks under
``bench/.data/debs/``, max side 512): tuxpaint-stamps-default (796 stamps: photo cut-outs,
cartoons, symbols; transparency flattened on white), opencv-doc examples/data (photos, stereo
pairs, calibration views, real blur, 10 single digits cut from digits.png), visp-images-data
(video sequences: consecutive frames are natural near duplicates; the Klimt and Solvay test
images in several sizes, formats and blurs) and scikit-learn's two sample photos when it is
installed.  Then, for each planted kind, a seeded sample of the originals gets a degraded copy:

    exact      the same bytes          reencode  the same pixels, PNG (other bytes)
    jpeg25     JPEG quality 25         resize50  half the width and height (Lanczos)
    crop90     90% of each side        crop75    75% of each side (seeded offsets)
    flip       horizontal mirror       rot10     +-10 degrees, same size, white corners
    noise      Gaussian, sigma 12/255  blur3     Gaussian blur, sigma 3 px
    dark       0.25 * v                bright    255 - 0.25 * (255 - v)
    gray       luma stored as RGB (colour originals only)

Layout: ``OUT/orig/<source>/<path in the package>`` and ``OUT/planted/<kind>/<source>/...``
(a planted copy in another format than its original's gets that format's suffix appended:
``planted/reencode/.../x.jpg.png``).  The truth is ``OUT/TRUTH.jsonl``: one line per image (its
id = path relative to OUT, as the ``format: images`` reader names it), ``role``
original|planted, ``kind``, ``original`` (the id a
planted image was made from), ``natural_group`` (originals that show the same scene: frames of
one sequence, stereo pairs, mirrored stamps, identical stamps; pairs inside a group are real
near duplicates, so a fair precision counts them as neither right nor wrong), ``native_gray``
and ``natural_blur`` (originals that are gray or blurred in the package), ``white`` (an
original's share of near-white pixels: tuxpaint's cut-outs on white are mostly white, which a
naive overexposure check takes for "light"), ``blank`` (one colour: tuxpaint's white lightning
bolt on transparent becomes all white; no planted copies of these), sizes and parameters.
``OUT/SUMMARY.json`` holds the counts and the build time.

Stored formats: tuxpaint photos and visp frames JPEG quality 90 (frames: grayscale JPEG),
cartoons, symbols and the packages' PNG files PNG; an original already a JPEG/PNG no larger
than max side is copied byte for byte.  Planted copies keep their original's format.

Deterministic (sorted walks, seeds derived from --seed, kind and id), whatever --workers.

    scripts/install_image_data.sh
    python bench/image_corpus.py                         # bench/.data/images, 6,000 images
    python bench/image_corpus.py --n 12000 --out bench/.data/images12k --workers 2
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import io
import json
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import build_image_sample as bis  # noqa: E402

from common import log  # noqa: E402

DATA = REPO / "bench" / ".data"
SEED = 20240607
MIN_SIDE_PLANTED = 64     # originals smaller than this get no planted copies
PNG_LEVEL = 6             # zlib level of the PNGs written (9 is 5x slower on frames, 2% smaller)


def all_originals(debs: Path, digits: int = 10) -> list[bis.Src]:
    """Every source image, in a fixed order (package by package, sorted paths)."""
    srcs: list[bis.Src] = []
    for package, lister in (("tuxpaint-stamps-default", bis.tuxpaint_sources),
                            ("opencv-doc", lambda r: bis.opencv_sources(r, digits)),
                            ("visp-images-data", bis.visp_sources)):
        root = bis.package_root(package, debs)
        if root is None:
            log(f"WARNING: {package} not found under {debs}: run scripts/install_image_data.sh")
            continue
        srcs += lister(root)
    srcs += bis.sklearn_sources()
    bis.mark_exact_duplicates(srcs)
    return srcs


def _stored_format(src: bis.Src) -> str:
    """JPEG for photos (tuxpaint's cut-outs, JPEG files) and video frames (visp's PGM/PPM),
    PNG for drawings (tuxpaint's cartoons and symbols) and the packages' own PNG files."""
    if src.source == "tuxpaint":
        return "JPEG" if src.style == "photo" else "PNG"
    if src.source == "visp" and src.path.suffix.lower() in (".pgm", ".ppm"):
        return "JPEG"
    return "JPEG" if src.path.suffix.lower() in (".jpg", ".jpeg") else "PNG"


def store_original(src: bis.Src, max_side: int) -> tuple[bytes, str, bool]:
    """(bytes, format, copied): the package's own bytes when they are already a JPEG/PNG in
    RGB or L no larger than max_side, else decoded (transparency on white), fitted and encoded
    (JPEG quality 90 for photos, PNG otherwise; grayscale stays grayscale)."""
    if src.crop is None and src.path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        with Image.open(src.path) as im:
            if im.mode in ("RGB", "L") and max(im.size) <= max_side and not im.getexif().get(0x0112) and \
                    "transparency" not in im.info:
                return src.path.read_bytes(), im.format, True
    im = bis.fit(bis.load(src), max_side)
    if bis.native_mode(src) == "L":
        im = im.convert("L")
    fmt = _stored_format(src)
    return bis.encode(im, fmt, 90, PNG_LEVEL), fmt, False


def _ids(srcs: list[bis.Src]) -> list[str]:
    """orig/<source>/<path in the package>, the suffix replaced by the stored format's
    (kept before it when that would collide: Klimt.ppm -> Klimt.ppm.png next to Klimt.png)."""
    out, seen = [], set()
    for s in srcs:
        rel = f"digit_{s.caption}" if s.crop else s.rel
        base = f"orig/{s.source}/{rel}"
        stem = base[: -len(Path(rel).suffix)] if Path(rel).suffix else base
        ext = bis.EXT[_stored_format(s)]
        if Path(rel).suffix.lower() in (".jpg", ".jpeg") and ext == ".jpg":
            ext = Path(rel).suffix
        cand = stem + ext
        if cand in seen:
            cand = base + ext
        assert cand not in seen, cand
        seen.add(cand)
        out.append(cand)
    return out


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def make_original(task: tuple[bis.Src, str, Path, int]) -> dict:
    src, id_, out, max_side = task
    data, fmt, copied = store_original(src, max_side)
    _write(out / id_, data)
    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        rgb = bis.flatten(im)
    gray = bis.is_gray(rgb)
    return {"id": id_, "role": "original", "kind": "original", "original": None, "source": src.source,
            "package": src.package, "from": f"{bis.PACKAGE_ROOTS.get(src.package, '')}/{src.rel}".lstrip("/"),
            "label": src.label, "style": src.style, "caption": src.caption, "width": w, "height": h, "format": fmt,
            "bytes": len(data), "copied": copied, "natural_group": src.group, "native_gray": gray,
            "natural_blur": src.natural_blur, "white": round(bis.near_white_share(rgb), 4),
            "blank": float(np.asarray(rgb.convert("L"), dtype=np.float32).std()) < 1.0}


def make_planted(task: tuple[str, dict, Path, int]) -> dict:
    kind, orig, out, seed = task
    data = (out / orig["id"]).read_bytes()
    rng = random.Random(f"{seed}:{kind}:{orig['id']}")
    pdata, pfmt, params = bis.plant(kind, data, orig["format"], rng, PNG_LEVEL)
    rel = orig["id"].removeprefix("orig/")     # a changed format appends its suffix: x.jpg.png
    same = pfmt == orig["format"]
    id_ = f"planted/{kind}/{rel}" + ("" if same else bis.EXT[pfmt])
    _write(out / id_, pdata)
    w, h = _size(pdata)
    return {"id": id_, "role": "planted", "kind": kind, "original": orig["id"], "source": orig["source"],
            "label": orig["label"], "style": orig["style"], "width": w, "height": h, "format": pfmt,
            "bytes": len(pdata), "params": params}


def choose_planted(originals: list[dict], n_total: int, seed: int) -> list[tuple[str, dict]]:
    """(kind, original) pairs: (n_total - originals) split evenly over the kinds, each kind a
    seeded sample (without repetition) of the originals it applies to."""
    budget = max(0, n_total - len(originals))
    kinds = bis.KINDS
    eligible = [o for o in originals if min(o["width"], o["height"]) >= MIN_SIDE_PLANTED and not o["blank"]]
    pairs = []
    for k, kind in enumerate(kinds):
        n = budget // len(kinds) + (1 if k < budget % len(kinds) else 0)
        pool = [o for o in eligible if not (kind == "gray" and o["native_gray"])]
        if n > len(pool):
            log(f"WARNING: {kind}: only {len(pool)} eligible originals for {n} planted copies")
        picked = random.Random(f"{seed}:{kind}").sample(pool, min(n, len(pool)))
        pairs += [(kind, o) for o in sorted(picked, key=lambda o: o["id"])]
    return pairs


def _run(fn, tasks: list, workers: int) -> list:
    if workers <= 1:
        return [fn(t) for t in tasks]
    with concurrent.futures.ProcessPoolExecutor(workers) as ex:
        return list(ex.map(fn, tasks, chunksize=32))


def build(out: Path, debs: Path, n: int, max_side: int, seed: int, workers: int) -> dict:
    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    srcs = all_originals(debs)
    log(f"{len(srcs)} originals found; writing them (max side {max_side})")
    originals = _run(make_original, [(s, i, out, max_side) for s, i in zip(srcs, _ids(srcs))], workers)
    pairs = choose_planted(originals, n, seed)
    log(f"planting {len(pairs)} degraded copies ({len(bis.KINDS)} kinds)")
    planted = _run(make_planted, [(k, o, out, seed) for k, o in pairs], workers)
    records = sorted(originals + planted, key=lambda r: r["id"])
    assert len({r["id"] for r in records}) == len(records), "two images with one id"
    with open(out / "TRUTH.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    seconds = time.perf_counter() - t0
    summary = summarize(records, seconds, workers)
    summary["packages"] = {p: bis.package_version(p, debs) for p in bis.PACKAGE_ROOTS}
    summary["args"] = {"n": n, "max_side": max_side, "seed": seed}
    (out / "SUMMARY.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def summarize(records: list[dict], seconds: float, workers: int) -> dict:
    originals = [r for r in records if r["role"] == "original"]
    groups = collections.Counter(r["natural_group"] for r in originals if r["natural_group"])
    return {
        "images": len(records), "originals": len(originals), "planted": len(records) - len(originals),
        "megabytes": round(sum(r["bytes"] for r in records) / 1e6, 1),
        "build_seconds": round(seconds, 1), "workers": workers,
        "originals_by_source": dict(sorted(collections.Counter(r["source"] for r in originals).items())),
        "originals_by_style": dict(sorted(collections.Counter(r["style"] for r in originals).items())),
        "tuxpaint_by_label": dict(sorted(collections.Counter(r["label"] for r in originals
                                                             if r["source"] == "tuxpaint").items())),
        "planted_by_kind": dict(collections.Counter(r["kind"] for r in records if r["role"] == "planted")),
        "formats": dict(sorted(collections.Counter(r["format"] for r in records).items())),
        "natural_groups": len(groups), "originals_in_natural_groups": sum(groups.values()),
        "native_gray_originals": sum(r["native_gray"] for r in originals),
        "natural_blur_originals": sum(r["natural_blur"] for r in originals),
        "copied_originals": sum(r["copied"] for r in originals),
        "blank_originals": [r["id"] for r in originals if r["blank"]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the image benchmark set from real Debian-packaged images.")
    ap.add_argument("--debs", type=Path, default=DATA / "debs", help="where install_image_data.sh unpacked")
    ap.add_argument("--out", type=Path, default=DATA / "images")
    ap.add_argument("--n", type=int, default=6000, help="total images (originals + planted)")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    summary = build(args.out, args.debs, args.n, args.max_side, args.seed, args.workers)
    print(json.dumps(summary, indent=1))
    print(f"wrote {summary['images']} images ({summary['megabytes']} MB) and TRUTH.jsonl to {args.out} "
          f"in {summary['build_seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
