"""The bundled image sample and the image fixtures are what their truth files say (no rebuild:
``scripts/build_image_sample.py`` writes them; these checks only read)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "data" / "images"
DATA = REPO / "tests" / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SAMPLE / "TRUTH.json").read_text(encoding="utf-8"))


def image_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}


def test_every_image_is_in_the_truth_and_every_truth_entry_is_a_file(truth):
    originals = {e["id"] for e in truth["originals"]}
    planted = {p["id"] for p in truth["planted"]}
    assert not originals & planted
    assert image_files(SAMPLE) == originals | planted
    assert truth["counts"]["files"] == len(originals | planted)
    assert {p["original"] for p in truth["planted"]} <= originals
    grouped = [i for ids in truth["natural_groups"].values() for i in ids]
    assert set(grouped) <= originals and len(grouped) == len(set(grouped))
    assert set(truth["natural_blur"]) <= originals and set(truth["gray"]) <= originals


def test_imagefolder_layout_sizes_and_budget(truth):
    entries = truth["originals"] + truth["planted"]
    for e in entries:
        path = SAMPLE / e["id"]
        assert path.parent.name == e["class"], e["id"]
        with Image.open(path) as im:
            assert (im.width, im.height, im.format) == (e["width"], e["height"], e["format"]), e["id"]
            assert max(im.size) <= truth["max_side"]
    assert len(truth["originals"]) >= 250 and len({e["class"] for e in truth["originals"]}) >= 6
    total = sum((SAMPLE / e["id"]).stat().st_size for e in entries)
    assert total == truth["counts"]["bytes"] and total <= 3_000_000


def test_planted_copies_are_what_their_kind_says(truth):
    kinds = {p["kind"] for p in truth["planted"]}
    assert {"exact", "reencode", "jpeg25", "resize50", "flip", "crop90", "blur3", "dark", "bright", "gray"} <= kinds

    def pixels(rel: str) -> np.ndarray:
        with Image.open(SAMPLE / rel) as im:
            return np.asarray(im.convert("RGB"), dtype=np.int16)

    for p in truth["planted"]:
        orig = next(e for e in truth["originals"] if e["id"] == p["original"])
        if p["kind"] == "exact":
            assert (SAMPLE / p["id"]).read_bytes() == (SAMPLE / p["original"]).read_bytes()
        elif p["kind"] == "reencode":
            assert p["format"] != orig["format"]
            assert np.array_equal(pixels(p["id"]), pixels(p["original"]))
        elif p["kind"] == "resize50":
            assert (p["width"], p["height"]) == (round(orig["width"] / 2), round(orig["height"] / 2))
        elif p["kind"] == "flip":
            assert np.abs(pixels(p["id"]) - pixels(p["original"])[:, ::-1]).mean() < 3
        elif p["kind"] == "crop90":
            x0, y0, x1, y1 = p["params"]["box"]
            assert (p["width"], p["height"]) == (x1 - x0, y1 - y0)
        elif p["kind"] == "gray":
            a = pixels(p["id"])
            assert np.abs(a[..., 0] - a[..., 1]).mean() < 1 and np.abs(a[..., 1] - a[..., 2]).mean() < 1
        elif p["kind"] in ("dark", "bright"):
            ratio = pixels(p["id"]).mean() / pixels(p["original"]).mean()
            assert ratio < 0.4 if p["kind"] == "dark" else ratio > 1.2


def test_bad_images_match_their_expected_facts():
    doc = json.loads((DATA / "bad_images" / "EXPECTED.json").read_text(encoding="utf-8"))
    files = doc["files"]
    assert {p.name for p in (DATA / "bad_images").iterdir()} == set(files) | {"EXPECTED.json"}
    for name, facts in files.items():
        path = DATA / "bad_images" / name
        assert path.stat().st_size == facts["bytes"] <= 120_000, name
        if facts["ok"]:
            with Image.open(path) as im:
                assert (im.format, im.mode, list(im.size)) == (facts["format"], facts["mode"], facts["stored_size"])
                oriented = ImageOps.exif_transpose(im)
                assert (oriented.width, oriented.height) == (facts["width"], facts["height"]), name
        elif facts["ok"] is False and "bomb" in name:
            with pytest.raises(Image.DecompressionBombError):
                Image.open(path)
    assert files["exif_rotate90.jpg"]["stored_size"][::-1] == [files["exif_rotate90.jpg"][k]
                                                              for k in ("width", "height")]


def test_webdataset_tar_and_tables_hold_the_same_images():
    index = json.loads((DATA / "image_tables" / "INDEX.json").read_text(encoding="utf-8"))
    keys = [r["key"] for r in index["rows"]]
    with tarfile.open(DATA / "images.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert sorted(members) == sorted(f"{k}.{ext}" for k in keys for ext in ("cls", "jpg", "json", "txt"))
    by_bytes = pq.read_table(DATA / "image_tables" / "bytes.parquet").to_pylist()
    by_path = pq.read_table(DATA / "image_tables" / "paths.parquet").to_pylist()
    assert [r["id"] for r in by_bytes] == [r["id"] for r in by_path] == keys
    for row, rel, r in zip(by_bytes, by_path, index["rows"]):
        jpg = members[f"{r['key']}.jpg"]
        assert row["image"] == jpg == (DATA / "image_tables" / rel["image"]).read_bytes()
        assert json.loads(members[f"{r['key']}.json"])["category"] == row["label"] == r["label"]
        assert int(members[f"{r['key']}.cls"]) == index["classes"].index(r["label"])
        with Image.open(io.BytesIO(jpg)) as im:
            assert im.size == (r["width"], r["height"])


def _builder():
    """scripts/build_image_sample.py as a module (registered: its dataclass needs that)."""
    import importlib.util
    import sys

    if "build_image_sample" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_image_sample", REPO / "scripts" / "build_image_sample.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_image_sample"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_image_sample"]


def test_each_planted_kind_does_what_the_truth_says_on_a_real_image():
    """scripts/build_image_sample.py's plant(): the degradations behind both truth files."""
    import random

    b = _builder()
    with Image.open(SAMPLE / "scenes" / "opencv_fruits.jpg") as im:
        rgb = im.convert("RGB")
    data = b.encode(rgb, "JPEG", 90)
    orig = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)

    def planted(kind: str, fmt: str = "JPEG") -> tuple[np.ndarray, str, dict]:
        out, ofmt, params = b.plant(kind, data, fmt, random.Random(kind))
        with Image.open(io.BytesIO(out)) as im:
            assert im.format == ofmt
            return np.asarray(im.convert("RGB"), dtype=np.float64), out, params

    def sharpness(a: np.ndarray) -> float:
        g = a.mean(axis=2)
        return float((g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]).var())

    assert planted("exact")[1] == data
    a, out, _ = planted("reencode")
    assert out != data and np.array_equal(a, orig)
    assert planted("jpeg25")[1] != data and len(planted("jpeg25")[1]) < len(data)
    assert planted("resize50")[0].shape[:2] == (round(orig.shape[0] / 2), round(orig.shape[1] / 2))
    for kind, side in (("crop90", 0.9), ("crop75", 0.75)):
        a, _, params = planted(kind)
        x0, y0, x1, y1 = params["box"]
        assert a.shape[:2] == (y1 - y0, x1 - x0) == (round(orig.shape[0] * side), round(orig.shape[1] * side))
    assert np.abs(planted("flip")[0] - orig[:, ::-1]).mean() < 3
    a, _, params = planted("rot10")
    assert a.shape == orig.shape and abs(params["degrees"]) == 10 and np.abs(a - orig).mean() > 10
    assert 5 < np.abs(planted("noise")[0] - orig).mean() < 15
    assert sharpness(planted("blur3")[0]) < sharpness(orig) / 10
    assert planted("dark")[0].mean() < orig.mean() * 0.3 and planted("bright")[0].mean() > 200
    gray = planted("gray")[0]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
