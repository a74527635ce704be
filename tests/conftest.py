"""Shared fixtures: small real-text corpora, recipe runners."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Embeddings and built models (the static encoder takes a minute to distill) are cached here,
# shared by the test sessions of this checkout and never in the user's own cache.
os.environ["THRESHER_CACHE"] = str(ROOT / ".test-cache")
os.environ["HF_HUB_OFFLINE"] = "1"

from thresher import read_output  # noqa: E402, F401  (the library's; tests import it from here too)

SAMPLE = ROOT / "examples" / "data" / "sample.jsonl.gz"

# Real sentences (Debian's GPL-3 text and Python's Zen), for tests that need prose.
PROSE = [
    "The GNU General Public License is a free, copyleft license for software and other kinds of works. "
    "The licenses for most software and other practical works are designed to take away your freedom "
    "to share and change the works.",
    "When we speak of free software, we are referring to freedom, not price. Our General Public Licenses "
    "are designed to make sure that you have the freedom to distribute copies of free software.",
    "Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex. "
    "Complex is better than complicated. Flat is better than nested. Sparse is better than dense.",
    "To protect your rights, we need to prevent others from denying you these rights or asking you to "
    "surrender the rights. Therefore, you have certain responsibilities if you distribute copies.",
]


def write_jsonl(path: Path, rows: list[dict], *, compress: str | None = None) -> Path:
    """Write rows as JSONL (plain, gz or zst)."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress == "gz":
        data = gzip.compress(data, mtime=0)
    elif compress == "zst":
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def prose_rows() -> list[dict]:
    """40 records of real prose with exact duplicates, a French line and junk."""
    rows = []
    for i in range(40):
        text = PROSE[i % len(PROSE)]
        if i % 10 == 9:
            text = "Le logiciel libre est une affaire de liberté et non de prix, comme dans liberté d'expression."
        if i % 13 == 12:
            text = "%%% ### ..."
        rows.append({"id": f"doc-{i:03d}", "text": text, "source": "gpl" if i % 2 else "zen", "n": i})
    return rows


def real_rows(n: int, min_chars: int = 40) -> list[dict]:
    """The first ``n`` distinct records of the bundled real sample with some text."""
    rows, seen = [], set()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        for line in src:
            rec = json.loads(line)
            if len(rec["text"]) >= min_chars and rec["text"] not in seen:
                seen.add(rec["text"])
                rows.append({"id": rec["id"], "text": rec["text"], "source": rec["source"]})
            if len(rows) == n:
                break
    return rows


def photo_like(h: int, w: int, seed: int = 0, blocks: tuple[int, ...] = (64, 16, 4)):
    """A synthetic photo for the image tests: colour blobs and edges at the scales of ``blocks``,
    plus fine grain (uint8 array ``(h, w, 3)``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float64)
    for block in blocks:
        coarse = rng.integers(0, 256, (h // block + 1, w // block + 1, 3)).astype(np.float64)
        out += np.kron(coarse, np.ones((block, block, 1)))[:h, :w] / len(blocks)
    return np.clip(out + rng.normal(0, 4, out.shape), 0, 255).astype(np.uint8)


def make_recipe(tmp_path: Path, input_path: Path, steps: list, **executor) -> dict:
    return {"input": {"path": str(input_path)}, "output": {"path": str(tmp_path / "out")},
            "executor": {"workers": 1, **executor}, "seed": 0, "steps": steps}


@pytest.fixture(scope="session")
def sample_subset(tmp_path_factory) -> Path:
    """The first 1,500 records of the bundled real sample, as plain JSONL."""
    path = tmp_path_factory.mktemp("sample") / "sample1500.jsonl"
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= 1500:
                break
            dst.write(line)
    return path


PIPELINE = [
    {"normalize": {}},
    {"length": {"min_words": 5}},
    {"language": {"keep": ["en", "fr", "de"], "min_score": 0.5}},
    {"dedup_exact": {}},
    {"pii": {}},
    {"filter": {"expr": "th_words < 3000"}},
    {"dedup_minhash": {"threshold": 0.7}},
]


def output_digest(out: Path) -> tuple:
    """Everything that must not change between equivalent runs: ids, reasons, values."""
    kept = read_output(out, "kept").drop_columns([])
    removed = read_output(out, "removed")
    return (kept.to_pylist(), removed.to_pylist())


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> tuple[Path, dict]:
    """The README's demo: the default recipe on the bundled sample (2 workers), run once per session."""
    import dataclasses

    from thresher import Recipe, run

    out = tmp_path_factory.mktemp("demo") / "out"
    recipe = Recipe.from_yaml(ROOT / "examples" / "default.yaml")
    recipe.output = dataclasses.replace(recipe.output, path=str(out))
    return out, run(recipe, workers=2).manifest
