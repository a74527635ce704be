#!/usr/bin/env python3
"""Embedding throughput: thresher's ``embed`` against bare ``SentenceTransformer.encode``, and
the static encoder's speed and agreement with MiniLM.

    .venv/bin/python bench/embed.py --n 512 --rounds 3

On the first ``--n`` passages of ``bench/.data/labelled/pool.jsonl`` (build it with
``bench/labelled_corpus.py``), alternating, ``--rounds`` times each:

- **bare**: ``SentenceTransformer(minilm).encode(texts, batch_size=32)`` (model loaded beforehand);
- **thresher**: ``thresher run`` of ``embed: {model: minilm, batch_size: 32}`` into a fresh cache,
  in-process, workers 2; its time is the whole embed stage (keys in the workers, the cache
  look-up, encoding, writing the cache, the key column on every record), model load excluded
  (the encoder is loaded once per process and kept, as a long-running user would).

Then the same recipe again over the same cache: it must encode nothing (the count is printed).
Finally the static encoder (model2vec distilled from MiniLM) on the same texts: passages/s, and
the mean overlap of each passage's 10 nearest neighbours under static vs MiniLM vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from common import git_commit, run_recipe

REPO = Path(__file__).resolve().parent.parent
POOL = REPO / "bench" / ".data" / "labelled" / "pool.jsonl"
os.environ.setdefault("THRESHER_CACHE", str(REPO / "bench" / ".data" / "cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def texts_of(n: int) -> list[dict]:
    rows = []
    with open(POOL, encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) == n:
                break
    return rows


def run_thresher(rows_path: Path, out: Path, cache: Path) -> dict:
    from thresher.manifest import find_stage, step_info

    manifest = run_recipe(rows_path, out, [{"embed": {"model": "minilm", "batch_size": 32}}], workers=2,
                          cache=cache).manifest
    stage, info = find_stage(manifest, "embed"), step_info(manifest, "embed")
    return {"seconds": stage["seconds"], "encode_seconds": info["encode_seconds"], "encoded": info["encoded"]}


def top10(x: np.ndarray) -> np.ndarray:
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1)[:, :10]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from sentence_transformers import SentenceTransformer

    from thresher.ops.embed.encoders import load_encoder, minilm_path

    rows = texts_of(args.n)
    texts = [r["text"] for r in rows]
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    rows_path = work / "in.jsonl"
    rows_path.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows))
    model = SentenceTransformer(str(minilm_path()), device="cpu")
    load_encoder("minilm", str(work / "cache"))  # what thresher's decide uses, loaded once
    bare, ours = [], []
    for k in range(args.rounds):
        t0 = time.perf_counter()
        model.encode(texts, batch_size=32)
        bare.append(time.perf_counter() - t0)
        ours.append(run_thresher(rows_path, work / f"out{k}", work / f"cache{k}"))
        print(f"round {k}: bare {bare[-1]:.2f} s, thresher stage {ours[-1]['seconds']:.2f} s "
              f"(encode {ours[-1]['encode_seconds']:.2f} s)", file=sys.stderr)
    again = run_thresher(rows_path, work / "again", work / "cache0")
    b, t = statistics.median(bare), statistics.median(r["seconds"] for r in ours)
    e = statistics.median(r["encode_seconds"] for r in ours)

    static = load_encoder("static", os.environ["THRESHER_CACHE"], 256)
    t0 = time.perf_counter()
    vs = static.encode(texts)
    ts = time.perf_counter() - t0
    vm = model.encode(texts, batch_size=32, normalize_embeddings=True)
    overlap = float(np.mean([len(set(a) & set(c)) / 10 for a, c in zip(top10(vs), top10(vm))]))

    commit = git_commit()
    print(f"\n{date.today()}  git {commit}  `.venv/bin/python bench/embed.py --n {args.n} --rounds {args.rounds}`")
    print(f"{args.n} passages of the labelled pool (mean {np.mean([len(x) for x in texts]):.0f} chars), "
          f"MiniLM, batch 32, median of {args.rounds}\n")
    print("| what | seconds | passages/s | vs bare |\n|---|---:|---:|---:|")
    print(f"| bare SentenceTransformer.encode | {b:.2f} | {args.n / b:.1f} | 1.00 |")
    print(f"| thresher embed stage (whole) | {t:.2f} | {args.n / t:.1f} | {b / t:.2f}x |")
    print(f"| thresher embed, encoding only | {e:.2f} | {args.n / e:.1f} | {b / e:.2f}x |")
    print(f"| thresher static encoder | {ts:.3f} | {args.n / ts:.0f} | {b / ts:.0f}x |")
    print(f"\nsecond run over the same cache: encoded {again['encoded']} of {args.n} passages")
    print(f"static vs MiniLM: mean top-10 neighbour overlap {overlap:.3f} (chance {10 / (args.n - 1):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
