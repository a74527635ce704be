#!/usr/bin/env python3
"""The semantic-dedup peer semhash, run as its own process on precomputed embeddings, so that
it is given exactly the vectors thresher's embedding dedup uses (no model of its own).

    bench/.venv-peers/bin/python bench/semdedup_peers.py --embeddings E.npy --ids IDS.json \\
        --threshold 0.95 --out result.json [--backend usearch|basic]

    # self-check: 2,000 random unit vectors of 384 dims with planted near-copies
    bench/.venv-peers/bin/python bench/semdedup_peers.py --selftest

``E.npy`` is an (n, d) float32 array of L2-normalised rows; ``IDS.json`` a list of n distinct
ids (row i is ids[i]; the order is the input order, which decides what is kept). Writes
``{"removed": [{"id", "dup_of", "score"}], "seconds", "peak_rss_mb", ...}``: one entry per
removed row, ``dup_of`` the kept row it duplicates and ``score`` their exact cosine similarity;
``seconds`` is the wall time of ``SemHash.from_embeddings`` (the ANN index build) plus
``self_deduplicate`` (queries and selection), not of loading the inputs or writing the output;
``peak_rss_mb`` is the process's peak resident set size (``VmHWM``, loading included) and
``rss_loaded_mb`` the RSS after loading, before semhash runs.

How semhash 0.5.0 deduplicates (``semhash/semhash.py``, ``index.py``, ``utils.py``,
``datamodels.py``):

- ``SemHash.from_embeddings(embeddings, records, model, columns, ann_backend=Backend.USEARCH)``
  takes precomputed vectors. Records are grouped by exact equality of their ``columns`` first
  (only the first row of a group is indexed); here the records are ``{"id": id}`` with
  ``columns=["id"]``, so with distinct ids nothing is grouped and only the vectors count.
  ``model`` must be an ``Encoder`` (anything with ``encode(inputs) -> np.ndarray``); it is not
  called by ``self_deduplicate``; the one given here looks rows up by id.
- The index is vicinity's backend: by default ``usearch`` HNSW (metric ``cos``, connectivity
  16, expansion_add 128, expansion_search 64; usearch stores the vectors as bf16 or f16 where
  the CPU accelerates them, else f32), or ``basic`` (exact brute-force cosine).
- ``self_deduplicate(threshold)`` queries every indexed vector for its neighbours with cosine
  distance below ``1 - threshold`` (top 100, re-queried with top 1000 when 100 are found),
  i.e. cosine similarity above ``threshold``. ``utils.select_canonicals`` then walks the rows
  in input order: a row is removed if one of the kept rows that its earlier neighbours map to
  has an exact (float32, re-normalised) cosine >= ``threshold`` with it, and points to the most
  similar such kept row; otherwise it is kept. So the first row of a cluster is kept, every
  removed row is directly within the threshold of the row it names (no transitive chains), and
  a row similar only to removed rows whose kept rows are too far stays.
- Exact-duplicate records (same column values) would be removed with ``exact=True``,
  ``score=1.0``; they cannot occur with distinct ids.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would carry a forking parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PrecomputedEncoder:
    """semhash ``Encoder``: returns the precomputed row of each id it is given."""

    def __init__(self, ids: list, embeddings: np.ndarray) -> None:
        self._row = {str(i): k for k, i in enumerate(ids)}
        self._embeddings = embeddings

    def encode(self, inputs, **kwargs) -> np.ndarray:
        if isinstance(inputs, (str, int)):
            inputs = [inputs]
        return self._embeddings[[self._row[str(i)] for i in inputs]]


def semhash_dedup(embeddings: np.ndarray, ids: list, threshold: float,
                  backend: str = "usearch") -> tuple[list[dict], dict]:
    """Removed rows as ``{"id", "dup_of", "score"}`` (input order) and timings."""
    from semhash import SemHash

    if len(set(map(str, ids))) != len(ids):
        raise SystemExit("ids must be distinct")
    records = [{"id": i} for i in ids]
    t0 = time.perf_counter()
    sh = SemHash.from_embeddings(embeddings, records, model=PrecomputedEncoder(ids, embeddings),
                                 columns=["id"], ann_backend=backend)
    t1 = time.perf_counter()
    result = sh.self_deduplicate(threshold=threshold)
    t2 = time.perf_counter()
    removed = [{"id": d.record["id"], "dup_of": d.duplicate_of["id"], "score": float(d.score)}
               for d in result.filtered]
    if len(result.selected) + len(removed) != len(ids):
        raise SystemExit("semhash lost records")
    return removed, {"seconds": t2 - t0, "index_seconds": t1 - t0, "dedup_seconds": t2 - t1,
                     "kept": len(result.selected)}


def run(args) -> int:
    embeddings = np.load(args.embeddings)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    ids = json.loads(Path(args.ids).read_text())
    if embeddings.ndim != 2 or embeddings.shape[0] != len(ids):
        raise SystemExit(f"embeddings {embeddings.shape} do not match {len(ids)} ids")
    loaded = rss_mb()
    removed, timing = semhash_dedup(embeddings, ids, args.threshold, args.backend)
    out = {"removed": removed, **timing, "peak_rss_mb": round(peak_rss_mb(), 1),
           "rss_loaded_mb": round(loaded, 1), "n": len(ids), "dim": int(embeddings.shape[1]),
           "threshold": args.threshold, "backend": args.backend, "tool": "semhash",
           "version": _version("semhash")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out) + "\n")
    print(f"semhash ({args.backend}): {len(ids)} rows, {len(removed)} removed at cosine >= "
          f"{args.threshold} in {timing['seconds']:.2f}s (index {timing['index_seconds']:.2f}s), "
          f"peak RSS {out['peak_rss_mb']:.0f} MB -> {args.out}")
    return 0


def _version(pkg: str) -> str:
    from importlib.metadata import version
    return version(pkg)


def selftest(n: int = 2000, dim: int = 384, threshold: float = 0.95, seed: int = 0) -> int:
    """Random unit vectors (pairwise cosine ~ N(0, 1/dim): none near the threshold) with planted
    copies after their originals: exact ones and near ones at cosine 0.99 and 0.96 (to be
    removed, pointing to the original), at 0.90 and 0.85 (to be kept), and a chain a, b, c with
    cos(a, b) = cos(b, c) = 0.97 and cos(a, c) = 0.94: b is removed (dup of a), c is kept."""
    rng = np.random.default_rng(seed)

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def at_cosine(v, cos, away_from=()):
        w = rng.standard_normal(dim)
        for u in (v, *away_from):  # orthogonal to v (and to away_from, if orthonormal to v)
            w -= (w @ u) * u
        return cos * v + np.sqrt(1 - cos**2) * unit(w)

    emb = [v for v in unit(rng.standard_normal((n, dim)))]
    ids = [f"doc{i}" for i in range(n)]
    expect = {}
    for k, (orig, cos) in enumerate([(3, 1.0), (10, 0.99), (500, 0.99), (999, 0.96),
                                     (1500, 0.96), (1998, 0.99), (42, 0.90), (77, 0.85)]):
        ids.append(f"copy{k}-of-doc{orig}")
        emb.append(at_cosine(emb[orig], cos))
        if cos >= threshold:
            expect[ids[-1]] = f"doc{orig}"
    a = emb[1234]
    b = at_cosine(a, 0.97)
    c = at_cosine(b, 0.97, away_from=(unit(a - (a @ b) * b),))
    assert abs(a @ c - 0.97**2) < 1e-6
    ids += ["chain-b-of-doc1234", "chain-c"]
    emb += [b, c]
    expect["chain-b-of-doc1234"] = "doc1234"
    emb = unit(np.array(emb)).astype(np.float32)
    removed, timing = semhash_dedup(emb, ids, threshold)
    got = {r["id"]: r["dup_of"] for r in removed}
    print(f"selftest: {len(ids)} rows of {dim} dims, removed {len(removed)} at cosine >= "
          f"{threshold} in {timing['seconds']:.3f}s")
    for r in removed:
        print(f"  {r['id']:>20s} dup_of {r['dup_of']:>8s} score {r['score']:.4f}")
    if got != expect:
        print(f"FAIL: expected {expect}")
        return 1
    print("ok: every planted copy >= threshold found with its original kept; none below it; "
          "no transitive chain")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="semhash semantic dedup on precomputed embeddings.")
    ap.add_argument("--embeddings", type=Path, help=".npy (n, d) float32, L2-normalised rows")
    ap.add_argument("--ids", type=Path, help="JSON list of n distinct ids, row order")
    ap.add_argument("--threshold", type=float, default=0.95, help="cosine similarity")
    ap.add_argument("--backend", default="usearch", choices=["usearch", "basic"],
                    help="vicinity backend: usearch HNSW (semhash's default) or exact brute force")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        return selftest()
    if not (args.embeddings and args.ids and args.out):
        ap.error("--embeddings, --ids and --out are required (or --selftest)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
