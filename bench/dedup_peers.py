#!/usr/bin/env python3
"""One fuzzy-dedup peer, run as its own process so that ``bench/dedup.py`` can measure the
wall time and peak RSS of its whole process tree.

    bench/.venv-peers/bin/python bench/dedup_peers.py rensa|datasketch|datatrove \\
        --corpus bench/.data/dedup200k/corpus.jsonl --out bench/out/dedup/rensa [--workers 2]

Each reads ``corpus.jsonl``, computes 128-permutation MinHash signatures, finds LSH candidates
for threshold 0.8 with the tool's own band choice, clusters them, and writes ``removed_ids.txt``
(one id per line, sorted) and ``timing.json`` (``{"docs", "seconds", ...}``: wall seconds from
reading the corpus to writing the ids, and the settings used). No peer verifies candidates
(as thresher's ``dedup_minhash`` with its default ``verify: none``).

- **rensa** (single process): ``RMinHash.from_token_sets(shingles, num_perm=128, seed=42)`` per
  chunk of 10,000 documents, ``RMinHashLSH(threshold=0.8, num_perm=128, num_bands=8)``:
  ``RMinHashLSH`` has no default band count; 8 (x 16 rows) is what rensa's own
  ``RMinHashDeduplicator`` picks for threshold 0.8 and what its README benchmark uses
  (``--bands`` to change it; it must divide 128). Each chunk is inserted (``insert_many``) then
  queried (``query_all``): every pair is found when its later document's chunk is queried.
  Candidates are unioned (union-find); each cluster keeps its smallest id.
- **datasketch** (single process): ``MinHash.bulk`` (128 permutations, default scheme and SHA-1
  hash) over the shingles' UTF-8 bytes per chunk, ``MinHashLSH(threshold=0.8, num_perm=128)``,
  which picks 9 bands x 13 rows by its false-positive/negative weighting; per chunk, insert then
  query; union-find; the smallest id kept.
- **datatrove** (``--workers`` processes): its four-stage pipeline with ``LocalPipelineExecutor``:
  ``JsonlReader`` + ``MinhashDedupSignature`` (``tasks=workers``; the corpus is first split
  round-robin into ``workers`` files, since datatrove gives each task whole files),
  ``MinhashDedupBuckets`` (``tasks=14``, one per band, as it requires, ``workers``), then
  ``MinhashDedupCluster`` (1 task) and ``JsonlReader`` + ``MinhashDedupFilter`` (with an
  ``exclusion_writer``) + ``JsonlWriter`` of the kept documents (``tasks=workers``). Its default
  ``MinhashConfig``: word 5-grams, 14 bands x 8 rows (112 hashes, not 128), 64-bit xxhash. Its
  own shingling: ``simplify_text`` (lowercase, every number to "0", punctuation removed,
  diacritics kept) and the English spaCy word tokenizer, so its shingles differ from the
  others'. It keeps, per cluster, the root of its union-find (not the smallest id).

rensa and datasketch are fed ``dedup_corpus.shingles_many`` (the benchmark's shingling, with
thresher's normalization); documents with no shingles are skipped (thresher never counts an
empty document as a duplicate; in an LSH index all of them would share every bucket).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import log  # noqa: E402  (stdlib only: this script runs in the peers' venv)

NUM_PERM = 128
THRESHOLD = 0.8
CHUNK = 10_000
SEED = 42


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def removed(self, ids: list[str]) -> list[str]:
        """Every member of a cluster but its smallest id."""
        clusters: dict[int, list[str]] = {}
        for i in range(len(ids)):
            clusters.setdefault(self.find(i), []).append(ids[i])
        out = []
        for members in clusters.values():
            if len(members) > 1:
                members.sort()
                out.extend(members[1:])
        return out


def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    from dedup_corpus import read_corpus as read

    return read(path)


def run_rensa(corpus: Path, out: Path, workers: int, bands: int | None) -> dict:
    from rensa import RMinHash, RMinHashLSH

    from dedup_corpus import shingles_many

    bands = bands or 8
    ids, texts = read_corpus(corpus)
    uf = UnionFind(len(ids))
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=bands)
    for lo in range(0, len(ids), CHUNK):
        sets = shingles_many(texts[lo:lo + CHUNK])
        keys = [lo + k for k, s in enumerate(sets) if s]
        mhs = RMinHash.from_token_sets([s for s in sets if s], num_perm=NUM_PERM, seed=SEED)
        lsh.insert_pairs(list(zip(keys, mhs)))
        for key, cands in zip(keys, lsh.query_all(mhs)):
            for c in cands:
                if c != key:
                    uf.union(key, c)
    return {"removed": uf.removed(ids), "docs": len(ids),
            "settings": {"num_perm": NUM_PERM, "bands": bands, "rows": NUM_PERM // bands, "seed": SEED,
                         "processes": 1}}


def run_datasketch(corpus: Path, out: Path, workers: int, bands: int | None) -> dict:
    from datasketch import MinHash, MinHashLSH

    from dedup_corpus import shingles_many

    ids, texts = read_corpus(corpus)
    uf = UnionFind(len(ids))
    params = (bands, NUM_PERM // bands) if bands else None
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, params=params)
    for lo in range(0, len(ids), CHUNK):
        sets = shingles_many(texts[lo:lo + CHUNK])
        keys = [lo + k for k, s in enumerate(sets) if s]
        mhs = MinHash.bulk([[x.encode("utf-8") for x in s] for s in sets if s], num_perm=NUM_PERM)
        for key, mh in zip(keys, mhs):
            lsh.insert(key, mh, check_duplication=False)
        for key, mh in zip(keys, mhs):
            for c in lsh.query(mh):
                if c != key:
                    uf.union(key, c)
    return {"removed": uf.removed(ids), "docs": len(ids),
            "settings": {"num_perm": NUM_PERM, "bands": lsh.b, "rows": lsh.r, "scheme": mhs[0].scheme if mhs else None,
                         "processes": 1}}


def run_datatrove(corpus: Path, out: Path, workers: int, bands: int | None) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    if bands:
        raise SystemExit("datatrove: --bands is not supported (it runs its default 14 x 8)")
    work = out / "work"
    if work.exists():
        shutil.rmtree(work)  # datatrove skips tasks that its logs say are done
    inp = work / "input"
    inp.mkdir(parents=True)
    parts = [open(inp / f"part-{k}.jsonl", "w", encoding="utf-8") for k in range(workers)]
    n = 0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                parts[n % workers].write(line if line.endswith("\n") else line + "\n")
                n += 1
    for p in parts:
        p.close()
    config = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash
    logs = work / "logs"

    def reader():
        return JsonlReader(str(inp), glob_pattern="*.jsonl")

    stages = [
        LocalPipelineExecutor([reader(), MinhashDedupSignature(output_folder=str(work / "signatures"), config=config)],
                              tasks=workers, workers=workers, logging_dir=str(logs / "signatures")),
        LocalPipelineExecutor([MinhashDedupBuckets(input_folder=str(work / "signatures"),
                                                   output_folder=str(work / "buckets"), config=config)],
                              tasks=config.num_buckets, workers=workers, logging_dir=str(logs / "buckets")),
        LocalPipelineExecutor([MinhashDedupCluster(input_folder=str(work / "buckets"),
                                                   output_folder=str(work / "remove_ids"), config=config)],
                              tasks=1, logging_dir=str(logs / "clusters")),
        LocalPipelineExecutor([reader(),
                               MinhashDedupFilter(input_folder=str(work / "remove_ids"),
                                                  exclusion_writer=JsonlWriter(str(work / "removed"))),
                               JsonlWriter(str(work / "kept"))],
                              tasks=workers, workers=workers, logging_dir=str(logs / "filter")),
    ]
    for stage in stages:
        stage.run()
    removed = []
    for path in sorted((work / "removed").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            removed.extend(json.loads(line)["id"] for line in f if line.strip())
    return {"removed": removed, "docs": n,
            "settings": {"n_grams": config.n_grams, "bands": config.num_buckets, "rows": config.hashes_per_bucket,
                         "num_perm": config.num_buckets * config.hashes_per_bucket, "hash": str(config.hash_config),
                         "tasks": {"signatures": workers, "buckets": config.num_buckets, "cluster": 1,
                                   "filter": workers}, "workers": workers}}


RUNNERS = {"rensa": run_rensa, "datasketch": run_datasketch, "datatrove": run_datatrove}


def versions(tool: str) -> dict:
    from importlib.metadata import version

    return {tool: version(tool), "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tool", choices=sorted(RUNNERS))
    ap.add_argument("--corpus", type=Path, required=True, help="corpus.jsonl (or a directory holding it)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2, help="datatrove's processes (rensa and datasketch use one)")
    ap.add_argument("--bands", type=int, default=None, help="LSH bands instead of the tool's default "
                    "(rensa, datasketch; rows = 128 // bands)")
    args = ap.parse_args(argv)
    corpus = args.corpus / "corpus.jsonl" if args.corpus.is_dir() else args.corpus
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = RUNNERS[args.tool](corpus, args.out, args.workers, args.bands)
    removed = sorted(result.pop("removed"))
    (args.out / "removed_ids.txt").write_text("".join(f"{x}\n" for x in removed), encoding="utf-8")
    seconds = time.perf_counter() - start
    timing = {"tool": args.tool, "docs": result["docs"], "seconds": round(seconds, 3), "removed": len(removed),
              "settings": result["settings"], "versions": versions(args.tool), "corpus": str(corpus)}
    (args.out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    log(f"{args.tool}: {result['docs']} docs in {seconds:.1f}s ({result['docs'] / seconds:.0f} docs/s), "
        f"removed {len(removed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
