#!/usr/bin/env python3
"""The static encoder against MiniLM on semantic dedup: SemDeDup's precision and recall with each
encoder's vectors, and how far their nearest neighbours agree, on a subset of the fuzzy-dedup
corpus small enough for MiniLM on CPU.

    .venv/bin/python bench/static_vs_minilm.py [--corpus bench/.data/dedup50k] [--originals 1000]
        [--others 2000] [--eps 0.02 0.05 0.1 0.2] [--work bench/.data/static_vs_minilm]
        [--cache bench/.data/cache] [--variants]

**Subset** (deterministic, ``random.Random(0)``): ``--originals`` documents that have injected
copies in ``truth.jsonl``, each with all of its copies, plus ``--others`` documents that are in
no truth pair, written to ``WORK/corpus.jsonl`` with the matching truth rows in
``WORK/truth.jsonl``. MiniLM encodes about 10 of these documents per second on 2 cores (it
truncates at 256 tokens), so the default subset of about 4,000 documents takes minutes; the
vectors are cached, and a rerun encodes nothing.

**Runs** (``thresher.run``): for each encoder (``embed: {model: static}``, ``embed: {model:
minilm}``) and eps, the recipe ``embed`` + ``dedup_semantic: {eps}`` (other parameters default:
k-means with one cluster per 1,000 records, ``keep: farthest``, seed 0). Precision, recall and F1
are ``thresher.dedup_eval.score`` of the removed ids against the truth, as in
``bench/semdedup.py``; recall is also given per kind of injected copy (the share of the kind's
copies whose cluster lost a member). **Neighbour overlap**: the mean share of a document's 10
nearest neighbours (cosine) under the static vectors that are also among its 10 nearest under
MiniLM's.

**Variants** (``--variants``): the same overlap for static models distilled with other settings
(``model2vec.distill``: ``pca_dims`` 64, 128, 256 (thresher's default; ``embed``'s ``pca_dims``
chooses it), none (384); SIF coefficient 1e-3 and 1e-5 against model2vec's 1e-4), each
distilled afresh (about 35 s) and not cached.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from common import git_commit, read_jsonl, read_records, run_recipe, vectors, write_jsonl

HERE = Path(__file__).resolve().parent
VARIANTS = {"pca 256, sif 1e-4 (default)": {}, "pca 128": {"pca_dims": 128}, "pca 64": {"pca_dims": 64},
            "no pca (384)": {"pca_dims": None}, "sif 1e-3": {"sif_coefficient": 1e-3},
            "sif 1e-5": {"sif_coefficient": 1e-5}}


def build_subset(corpus: Path, originals: int, others: int, work: Path) -> tuple[Path, list[dict]]:
    docs = read_jsonl(corpus / "corpus.jsonl")
    truth = read_jsonl(corpus / "truth.jsonl")
    copies = collections.defaultdict(list)
    for row in truth:
        copies[row["dup_of"]].append(row)
    rng = random.Random(0)
    chosen = rng.sample(sorted(copies), originals)
    in_truth = {r["id"] for r in truth} | set(copies)
    keep = set(chosen) | {r["id"] for o in chosen for r in copies[o]}
    keep |= set(rng.sample(sorted(d["id"] for d in docs if d["id"] not in in_truth), others))
    rows = [{"id": d["id"], "text": d["text"]} for d in docs if d["id"] in keep]
    sub_truth = [r for o in chosen for r in copies[o]]
    write_jsonl(rows, work / "corpus.jsonl")
    write_jsonl(sub_truth, work / "truth.jsonl")
    return work / "corpus.jsonl", sub_truth


def removed_ids(out: Path) -> set[str]:
    table, kept = read_records(out, ["id"])
    return set(np.asarray(table.column("id").to_pylist(), dtype=object)[~kept])


def neighbour_overlap(a: np.ndarray, b: np.ndarray, n: int = 10) -> float:
    def knn(x):
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argpartition(-s, n, axis=1)[:, :n]

    na, nb = knn(a), knn(b)
    return float(np.mean([len(set(x) & set(y)) / n for x, y in zip(na, nb)]))


def variant_overlaps(texts: list[str], minilm: np.ndarray) -> dict[str, float]:
    import contextlib
    import io

    from model2vec.distill import distill

    from thresher.ops.embed.encoders import _offline, l2_normalize, minilm_path

    _offline()
    out = {}
    for name, params in VARIANTS.items():
        with contextlib.redirect_stderr(io.StringIO()):
            model = distill(model_name=str(minilm_path()), **params)
        out[name] = neighbour_overlap(l2_normalize(model.encode(texts)), minilm)
        print(f"| {name} | {out[name]:.3f} |", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=HERE / ".data" / "dedup50k")
    ap.add_argument("--originals", type=int, default=1000)
    ap.add_argument("--others", type=int, default=2000)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--work", type=Path, default=HERE / ".data" / "static_vs_minilm")
    ap.add_argument("--cache", type=Path, default=HERE / ".data" / "cache")
    ap.add_argument("--variants", action="store_true", help="also distill other static models and compare")
    args = ap.parse_args(argv)
    from thresher.dedup_eval import score

    work, cache = args.work.resolve(), args.cache.resolve()
    corpus, truth = build_subset(args.corpus, args.originals, args.others, work)
    n = sum(1 for _ in open(corpus, encoding="utf-8"))
    kinds = collections.Counter(r["kind"] for r in truth)
    print(f"# Static encoder vs MiniLM on semantic dedup ({datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z})\n")
    print(f"command: `python bench/static_vs_minilm.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ")
    print(f"git commit: {git_commit(False)}  ")
    print(f"subset: {n} documents, {len(truth)} injected copies of {args.originals} originals, "
          f"{args.others} documents in no truth pair\n")

    embedded, seconds = {}, {}
    for model in ("static", "minilm"):
        t0 = time.perf_counter()
        run_recipe(corpus, work / model / "embed", [{"embed": {"model": model}}], workers=2, cache=cache, fresh=False)
        seconds[model] = time.perf_counter() - t0
        table, _ = read_records(work / model / "embed", ["id", "th_embedding_key"])
        embedded[model] = (table.column("id").to_pylist(), vectors(cache, table.column("th_embedding_key")))
    if embedded["static"][0] != embedded["minilm"][0]:
        raise SystemExit("the two embed runs kept different records")
    overlap = neighbour_overlap(embedded["static"][1], embedded["minilm"][1])

    kind_names = sorted(kinds, key=lambda k: -kinds[k])
    print("| encoder | eps | removed | precision | recall | F1 | " + " | ".join(f"recall {k} ({kinds[k]})"
                                                                         for k in kind_names) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(kind_names))
    for model in ("static", "minilm"):
        for eps in args.eps:
            out = work / model / f"eps{eps}"
            steps = [{"embed": {"model": model}}, {"dedup_semantic": {"eps": eps}}]
            run_recipe(corpus, out, steps, workers=2, cache=cache, fresh=False)
            removed = removed_ids(out)
            s = score(removed, truth)
            by_kind = [np.mean([r["id"] in removed or r["dup_of"] in removed for r in truth if r["kind"] == k])
                       for k in kind_names]
            print(f"| {model} | {eps} | {len(removed)} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
                  + " | ".join(f"{r:.2f}" for r in by_kind) + " |", flush=True)
    print(f"\ntop-10 neighbour overlap, static vs MiniLM: {overlap:.3f} (chance {10 / (n - 1):.4f}); "
          f"first embed run (encoding included): static {seconds['static']:.1f} s, "
          f"MiniLM {seconds['minilm']:.1f} s")
    result = {"overlap": overlap, "embed_seconds": seconds}
    if args.variants:
        text_of = {r["id"]: r["text"] for r in read_jsonl(corpus)}
        print("\n| static model | top-10 neighbour overlap with MiniLM |\n|---|---:|")
        result["variants"] = variant_overlaps([text_of[i] for i in embedded["minilm"][0]], embedded["minilm"][1])
    (work / "result.json").write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
