#!/usr/bin/env python3
"""Build benchmark corpora from the same real Debian-packaged text as the demo sample.

Uses the extraction code of ``scripts/build_sample.py`` (run
``scripts/install_data_packages.sh`` first).  Output goes to ``bench/.data/`` (gitignored).

    # N real documents: every source in full; if that is fewer than N, documents longer
    # than a chunk size are split into groups of whole paragraphs (ids "<id>/p<k>"), the
    # chunk size being the largest of 4000, 3000, 2000, 1500, ... chars that reaches N.
    # If there are more than N, a seeded random N are kept.
    python bench/corpus.py docs --n 100000 --out bench/.data/docs100k.jsonl

    # a file of at least --mb megabytes (10^6 bytes) for memory benchmarks: the real
    # documents repeated round after round, each round reshuffled, ids "r<round>/<id>".
    python bench/corpus.py scale --mb 500 --out bench/.data/scale500.jsonl

Both are deterministic (sorted walks, fixed seeds).  The extracted documents are cached in
``bench/.data/extract-cache.jsonl.gz``; pass ``--refresh`` to re-extract (e.g. after
package upgrades).  An output path ending in ``.gz`` is written gzip-compressed (mtime=0).
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import build_sample as bs  # noqa: E402

from common import log  # noqa: E402

DATA = REPO / "bench" / ".data"
CACHE = DATA / "extract-cache.jsonl.gz"
SEED = 20240607
CHUNK_SIZES = [10**9, 4000, 3000, 2000, 1500, 1200, 1000, 800, 600, 500, 400, 300]


def all_documents(refresh: bool = False) -> list[dict]:
    """Every document of every source, in a fixed order (source order, then file order)."""
    if CACHE.exists() and not refresh:
        with gzip.open(CACHE, "rt", encoding="utf-8") as f:
            docs = [json.loads(line) for line in f]
        log(f"loaded {len(docs)} extracted documents from {CACHE} (--refresh to rebuild)")
        return docs
    t = time.time()
    log("extracting all sources (man pages are rendered with man(1); takes a few minutes)")
    pools = bs.extract_all(log=sys.stderr)
    docs = [d for name in bs.SOURCES for d in pools[name]]
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    bs.write_jsonl_gz(docs, CACHE)
    log(f"extracted {len(docs)} documents in {time.time() - t:.0f}s -> {CACHE}")
    return docs


def split_paragraphs(doc: dict, max_chars: int) -> list[dict]:
    """Split a long document into consecutive groups of whole paragraphs (blank-line
    separated), each group at most max_chars unless a single paragraph is longer."""
    text = doc["text"]
    if len(text) <= max_chars:
        return [doc]
    paras = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    groups: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for p in paras:
        if cur and size + 2 + len(p) > max_chars:
            groups.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += len(p) + (2 if size else 0)
    if cur:
        groups.append(cur)
    if len(groups) == 1:
        return [doc]
    return [dict(doc, id=f"{doc['id']}/p{k}", text="\n\n".join(g)) for k, g in enumerate(groups)]


def open_out(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        raw = open(path, "wb")
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6), raw
    return open(path, "wb"), None


def cmd_docs(args) -> int:
    docs = all_documents(args.refresh)
    full = len(docs)
    # Split only as much as needed: the largest paragraph-group size that reaches --n.
    sizes = [args.chunk_chars] if args.chunk_chars else CHUNK_SIZES
    for chunk in sizes:
        pieces = [c for d in docs for c in split_paragraphs(d, chunk)]
        log(f"{full} whole documents -> {len(pieces)} after splitting documents longer than "
            f"{chunk} chars into paragraph groups")
        if len(pieces) >= args.n:
            break
    args.chunk_chars = chunk
    rng = random.Random(args.seed)
    if len(pieces) >= args.n:
        keep = sorted(rng.sample(range(len(pieces)), args.n))
        out = [pieces[i] for i in keep]
    else:
        log(f"WARNING: only {len(pieces)} documents available, fewer than --n {args.n}; "
            f"writing all of them (lower --chunk-chars to split further)")
        out = pieces
    rng.shuffle(out)
    f, raw = open_out(args.out)
    with f:
        for d in out:
            f.write((bs.dumps(d) + "\n").encode("utf-8"))
    if raw:
        raw.close()
    bs.summarize(out, file=sys.stdout)
    print(f"wrote {len(out)} documents to {args.out} ({args.out.stat().st_size} bytes); "
          f"max available with --chunk-chars {args.chunk_chars}: {len(pieces)}")
    return 0


def cmd_scale(args) -> int:
    docs = all_documents(args.refresh)
    target = int(args.mb * 1_000_000)
    f, raw = open_out(args.out)
    written = 0      # uncompressed bytes
    n = 0
    rnd = 0
    with f:
        while written < target:
            order = list(range(len(docs)))
            random.Random(args.seed * 1000 + rnd).shuffle(order)
            for i in order:
                d = docs[i]
                line = (bs.dumps(dict(d, id=f"r{rnd}/{d['id']}")) + "\n").encode("utf-8")
                f.write(line)
                written += len(line)
                n += 1
                if written >= target:
                    break
            rnd += 1
    if raw:
        raw.close()
    print(f"wrote {n} documents ({rnd} rounds over {len(docs)} real documents), "
          f"{written} bytes of JSONL to {args.out} ({args.out.stat().st_size} bytes on disk)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build benchmark corpora from real Debian text.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("docs", help="N real documents (long ones split into paragraph groups)")
    d.add_argument("--n", type=int, default=100_000)
    d.add_argument("--chunk-chars", type=int, default=0,
                   help="split documents longer than this into paragraph groups (default: "
                        "the largest of %s that reaches --n)" % CHUNK_SIZES[1:])
    d.add_argument("--out", type=Path, default=DATA / "docs100k.jsonl")
    s = sub.add_parser("scale", help="repeat the real documents until the file has --mb MB")
    s.add_argument("--mb", type=float, default=500)
    s.add_argument("--out", type=Path, default=DATA / "scale500.jsonl")
    for p in (d, s):
        p.add_argument("--seed", type=int, default=SEED)
        p.add_argument("--refresh", action="store_true", help="re-extract, ignore the cache")
    args = ap.parse_args(argv)
    return cmd_docs(args) if args.cmd == "docs" else cmd_scale(args)


if __name__ == "__main__":
    sys.exit(main())
