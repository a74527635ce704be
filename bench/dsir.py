#!/usr/bin/env python3
"""DSIR (importance resampling toward a target) on a mixed pool of real text sources: thresher's
``dsir`` op against random selection, a classifier-based filter and the authors' reference
implementation (``data-selection`` 1.0.3) at the same budget.

    bash bench/setup_peers.sh                                   # once: data-selection in .venv-peers
    .venv/bin/python bench/labelled_corpus.py --out bench/.data/labelled   # once
    .venv/bin/python bench/dsir.py [--data bench/.data/labelled] [--targets jargon debian-doc devil] \\
        [--workers 2] [--work bench/.data/dsir] [--json bench/out/dsir.json] [--peers bench/.venv-peers/bin/python]

Markdown tables go to stdout (progress to stderr), raw numbers to ``--json``.

**Data.** ``pool.jsonl`` of ``bench/labelled_corpus.py`` (48,936 real passages, 7 source classes).
For each target class, ``min(500, round(n / 3))`` of its passages (a ``default_rng(0)``
permutation of the class's passages sorted by id) become the target file; the pool is every
other passage (the rest of the class stays in it, mixed with the 6 other classes). The budget
``k`` is the number of target-class passages left in the pool, so a perfect selection is 100%
target class.

**Methods, each selecting k pool passages.** *random*: ``default_rng(0).choice`` without
replacement. *dsir*: ``thresher.run`` of a recipe with the one step ``dsir: {target_files:
[target], size: k}`` (defaults: 10,000 buckets, unigrams + bigrams, smoothing 1e-8, Gumbel top-k,
seed 0), ``workers`` processes, ``fresh=True``; also with ``top_k: true`` and with ``smoothing:
1e-5``. *classifier*: thresher's ``quality_classifier`` (TF-IDF of hashed word 1-2-grams,
logistic regression C=10, 5 folds), trained on the target passages (positive) against the pool
(negative) in one run, every pool passage scored out-of-fold; the k highest scores (ties: id).
*data-selection*: ``HashedNgramDSIR([pool], [target], num_proc=workers, min_example_length=0)``
(its defaults otherwise: word-punct tokens, 2-grams, 10,000 buckets), ``fit_importance_estimator()``,
``compute_importance_weights()``, ``resample(num_to_sample=k)`` after ``np.random.seed(0)``, run
in ``bench/.venv-peers``; then ``resample(top_k=True)`` (not timed).

**Measures.** *KL after*: ``KL(target || selected)`` of the hashed n-gram bucket distributions
(thresher's ``kl_divergence``: 10,000 buckets, 1e-8 inside the logs), the same function for
every method; *KL before* is the whole pool's. *target share*: the selected passages' share of
the target class. *tokens*: mean word-punct tokens of the selected passages (the target's mean
is printed: DSIR's log-weights are sums over n-grams, so length matters). *seconds*: wall time of
the selection end to end (thresher: the whole run, reading JSONL, writing Parquet, manifest and
report; data-selection: fit, weights and resample, writing JSONL); docs/s = pool passages /
seconds. *Agreement* of thresher and data-selection: Pearson and Spearman correlation of the
log-weights of every pool passage and their largest absolute difference; the overlap
``|A & B| / k`` of the selected ids with ``top_k`` (deterministic, must be ~1) and with Gumbel
sampling (two random draws; compared with two thresher seeds, 0 and 1, which is what sampling
noise alone gives); *thresher op alone*: ``DSIR.keys`` on the whole pool as one batch, then
``decide``, in the benchmark's own process (no executor, one core).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # 2 shared cores: one BLAS thread per process

import numpy as np  # noqa: E402

from common import git_commit, log, read_jsonl, read_records, run_recipe, write_jsonl  # noqa: E402

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".venv-peers" / "bin" / "python"

REFERENCE_CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from importlib.metadata import version
from data_selection import HashedNgramDSIR
pool, target, work, k, procs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
dsir = HashedNgramDSIR([pool], [target], cache_dir=str(work / "cache"), num_proc=procs, min_example_length=0)
dsir.fit_importance_estimator()
t1 = time.perf_counter()
dsir.compute_importance_weights()
t2 = time.perf_counter()
np.random.seed(0)
dsir.resample(out_dir=str(work / "gumbel"), num_to_sample=k)
t3 = time.perf_counter()
dsir.resample(out_dir=str(work / "topk"), num_to_sample=k, top_k=True)
shards = dsir._get_virtually_sharded_datasets(dsir.raw_datasets)
n = sum(len(np.load(work / "cache" / "log_importance_weights" / f"{s['overall_idx']}.npy")) for s in shards)
logw = np.empty(n)
for s in shards:  # virtual shard j of a file holds its lines i with i % num_shards == j, in order
    w = np.load(work / "cache" / "log_importance_weights" / f"{s['overall_idx']}.npy")
    logw[s["shard_idx"]::s["num_shards"]] = w
np.save(work / "logw.npy", logw)
ids = lambda d: sorted(json.loads(l)["id"] for f in sorted((work / d).glob("*.jsonl")) for l in open(f) if l.strip())
json.dump({"version": version("data-selection"), "fit_s": t1 - t0, "weights_s": t2 - t1, "resample_s": t3 - t2,
           "seconds": t3 - t0, "gumbel": ids("gumbel"), "topk": ids("topk")}, open(work / "result.json", "w"))
"""


def split(rows: list[dict], label: str) -> tuple[list[dict], list[dict]]:
    """(pool, target): a seeded third (at most 500) of the class is the target."""
    members = sorted((r for r in rows if r["label"] == label), key=lambda r: r["id"])
    n_target = min(500, round(len(members) / 3))
    chosen = {members[i]["id"] for i in np.random.default_rng(0).permutation(len(members))[:n_target]}
    return [r for r in rows if r["id"] not in chosen], [r for r in members if r["id"] in chosen]


def run_dsir(pool_path: Path, target_path: Path, k: int, out: Path, workers: int, seed: int = 0,
             **params) -> dict:
    step = {"dsir": {"target_files": [str(target_path)], "size": k, **params}}
    from thresher.manifest import step_info

    run = run_recipe(pool_path, out, [step], workers=workers, seed=seed)
    seconds = run.seconds
    table, kept_mask = read_records(out, ["id", "th_dsir_logweight"])
    kept = set(np.asarray(table.column("id").to_pylist(), dtype=object)[kept_mask].tolist())
    info = step_info(run.manifest, "dsir")
    log(f"dsir {params or ''} seed {seed}: {seconds:.1f}s")
    return {"ids": kept, "seconds": seconds, "info": info,
            "logw": dict(zip(table.column("id").to_pylist(), table.column("th_dsir_logweight").to_pylist()))}


def run_classifier(pool: list[dict], target: list[dict], k: int, work: Path, workers: int) -> dict:
    """quality_classifier trained target (1) vs pool (0); the k best-scored pool passages."""
    rows = [{"id": r["id"], "text": r["text"], "is_target": 0} for r in pool] + \
        [{"id": f"target/{r['id']}", "text": r["text"], "is_target": 1} for r in target]
    path = write_jsonl(rows, work / "classifier_input.jsonl")
    step = {"quality_classifier": {"model": str(work / "classifier.pkl"), "label": "is_target", "features": "tfidf"}}
    from thresher.manifest import step_info

    run = run_recipe(path, work / "classifier", [step], workers=workers)
    seconds = run.seconds
    table, _ = read_records(work / "classifier", ["id", "th_quality_score"])
    ids = np.array(table.column("id").to_pylist(), dtype=object)
    score = table.column("th_quality_score").to_numpy()
    in_pool = np.array([not i.startswith("target/") for i in ids])
    ids, score = ids[in_pool], score[in_pool]
    top = np.lexsort((np.arange(len(ids)), -score))[:k]  # ids are sorted: ties go to the smaller id
    log(f"classifier: {seconds:.1f}s")
    return {"ids": set(ids[top].tolist()), "seconds": seconds,
            "info": step_info(run.manifest, "quality_classifier")}


def run_reference(pool_path: Path, target_path: Path, k: int, work: Path, procs: int, peers: Path) -> dict | None:
    if not peers.exists():
        log("bench/.venv-peers missing (run bench/setup_peers.sh): data-selection skipped")
        return None
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    done = subprocess.run([str(peers), "-c", REFERENCE_CHILD, str(pool_path), str(target_path), str(work), str(k),
                           str(procs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:  # its progress bars go to stderr: show them only when it failed
        raise RuntimeError(f"data-selection failed (rc {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads((work / "result.json").read_text())
    result["logw"] = np.load(work / "logw.npy")
    log(f"data-selection: {result['seconds']:.1f}s")
    return result


class Features:
    """The pool's and the target's hashed n-grams (the features both implementations use)."""

    def __init__(self, pool: list[dict], target: list[dict]) -> None:
        from thresher.ops.select.hashed_ngrams import bucket_counts, hashed_ngrams

        self.bags = hashed_ngrams([r["text"] for r in pool])
        self.doc = np.repeat(np.arange(len(pool)), np.diff(self.bags.offsets))
        self.target = bucket_counts(hashed_ngrams([r["text"] for r in target]).buckets, 10_000)
        self.target_tokens = float(np.mean(hashed_ngrams([r["text"] for r in target]).tokens))
        self.pool = bucket_counts(self.bags.buckets, 10_000)

    def kl(self, mask: np.ndarray | None = None) -> float:
        from thresher.ops.select.dsir import kl_divergence
        from thresher.ops.select.hashed_ngrams import bucket_counts

        counts = self.pool if mask is None else bucket_counts(self.bags.buckets[mask[self.doc]], 10_000)
        return kl_divergence(self.target, counts)


def bench_target(rows: list[dict], label: str, args) -> dict:
    pool, target = split(rows, label)
    work = args.work / label
    pool_path, target_path = write_jsonl(pool, work / "pool.jsonl"), write_jsonl(target, work / "target.jsonl")
    ids = np.array([r["id"] for r in pool], dtype=object)
    is_target = np.array([r["label"] == label for r in pool])
    k = int(is_target.sum())
    log(f"{label}: pool {len(pool)}, target file {len(target)}, k = {k}")
    feats = Features(pool, target)
    index = {i: n for n, i in enumerate(ids.tolist())}

    def measure(name: str, chosen: set[str], seconds: float | None) -> dict:
        mask = np.zeros(len(ids), bool)
        mask[[index[i] for i in chosen]] = True
        assert mask.sum() == k, (name, mask.sum(), k)
        return {"method": name, "kl_after": feats.kl(mask), "target_share": float(is_target[mask].mean()),
                "tokens": float(feats.bags.tokens[mask].mean()), "seconds": seconds,
                "docs_per_s": len(ids) / seconds if seconds else None}

    methods = [measure("random", set(np.random.default_rng(0).choice(ids, k, replace=False).tolist()), None)]
    d0 = run_dsir(pool_path, target_path, k, work / "dsir", args.workers)
    methods.append(measure("thresher dsir", d0["ids"], d0["seconds"]))
    d1 = run_dsir(pool_path, target_path, k, work / "dsir_seed1", args.workers, seed=1)
    dt = run_dsir(pool_path, target_path, k, work / "dsir_topk", args.workers, top_k=True)
    methods.append(measure("thresher dsir, top_k", dt["ids"], dt["seconds"]))
    ds = run_dsir(pool_path, target_path, k, work / "dsir_smooth", args.workers, smoothing=1e-5)
    methods.append(measure("thresher dsir, smoothing 1e-5", ds["ids"], ds["seconds"]))
    clf = run_classifier(pool, target, k, work, args.workers)
    methods.append(measure("classifier (quality_classifier, TF-IDF LR)", clf["ids"], clf["seconds"]))
    ref = run_reference(pool_path, target_path, k, work / "reference", args.workers, args.peers)
    op_seconds = time_op(pool, target_path, k)
    agreement = {}
    if ref is not None:
        methods.append(measure(f"data-selection {ref['version']}", set(ref["gumbel"]), ref["seconds"]))
        methods.append(measure(f"data-selection {ref['version']}, top_k", set(ref["topk"]), None))
        agreement = agree(d0, d1, dt, ref, ids, k)
    return {"target": label, "pool": len(pool), "target_file": len(target), "k": k,
            "pool_share": float(is_target.mean()), "kl_before": feats.kl(), "target_tokens": feats.target_tokens,
            "pool_tokens": float(feats.bags.tokens.mean()), "methods": methods, "agreement": agreement,
            "dsir_info": d0["info"], "classifier_info": clf["info"], "op_seconds_1proc": op_seconds,
            "reference_seconds": {s: ref[s] for s in ("fit_s", "weights_s", "resample_s")} if ref else None}


def time_op(pool: list[dict], target_path: Path, k: int) -> float:
    """The op alone in this process (features of every passage, models, weights, resampling):
    ``keys`` on the whole pool as one batch, then ``decide``."""
    import pyarrow as pa

    from thresher.ops.base import OpContext
    from thresher.ops.select.dsir import DSIR

    batch = pa.table({"id": [r["id"] for r in pool], "text": [r["text"] for r in pool]})
    t = time.perf_counter()
    op, ctx = DSIR(target_files=[str(target_path)], size=k), OpContext(seed=0, step="dsir")
    op.decide(op.keys(batch, ctx), ctx)
    seconds = time.perf_counter() - t
    log(f"dsir op in-process: {seconds:.1f}s")
    return seconds


def agree(d0: dict, d1: dict, dt: dict, ref: dict, ids: np.ndarray, k: int) -> dict:
    from scipy.stats import pearsonr, spearmanr

    ours = np.array([d0["logw"][i] for i in ids.tolist()])
    theirs = ref["logw"]
    return {"pearson": float(pearsonr(ours, theirs)[0]), "spearman": float(spearmanr(ours, theirs)[0]),
            "max_abs_diff": float(np.max(np.abs(ours - theirs))),
            "max_rel_diff": float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12))),
            "overlap_topk": len(dt["ids"] & set(ref["topk"])) / k,
            "overlap_gumbel": len(d0["ids"] & set(ref["gumbel"])) / k,
            "overlap_thresher_seeds": len(d0["ids"] & d1["ids"]) / k,
            "speed_ratio": ref["seconds"] / d0["seconds"]}


def tables(results: list[dict]) -> str:
    out = []
    for r in results:
        out.append(f"\n**Target: {r['target']}** — pool {r['pool']:,} passages ({r['pool_share']:.1%} {r['target']}), "
                   f"target file {r['target_file']} passages, budget k = {r['k']:,}; KL(target || pool) = "
                   f"{r['kl_before']:.4f}; mean tokens: target {r['target_tokens']:.0f}, pool {r['pool_tokens']:.0f}\n")
        out.append("| method | KL(target ‖ selected) | KL reduction | target share | mean tokens | seconds | docs/s |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for m in r["methods"]:
            sec = f"{m['seconds']:.1f}" if m["seconds"] else "—"
            dps = f"{m['docs_per_s']:,.0f}" if m["docs_per_s"] else "—"
            out.append(f"| {m['method']} | {m['kl_after']:.4f} | {r['kl_before'] - m['kl_after']:+.4f} | "
                       f"{m['target_share']:.1%} | {m['tokens']:.0f} | {sec} | {dps} |")
    if any(r["agreement"] for r in results):
        out.append("\n**thresher dsir vs data-selection (same features, same budget)**\n")
        out.append("| target | log-weight Pearson | Spearman | max abs diff | max rel diff | overlap top_k | "
                   "overlap Gumbel (thresher seed 0 vs 1) | speed ratio (end to end) | thresher op alone, 1 process |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            a = r["agreement"]
            if a:
                out.append(f"| {r['target']} | {a['pearson']:.9f} | {a['spearman']:.9f} | {a['max_abs_diff']:.2e} | "
                           f"{a['max_rel_diff']:.2e} | {a['overlap_topk']:.4f} | {a['overlap_gumbel']:.3f} "
                           f"({a['overlap_thresher_seeds']:.3f}) | {a['speed_ratio']:.1f}x | "
                           f"{r['op_seconds_1proc']:.1f} s ({r['pool'] / r['op_seconds_1proc']:,.0f} docs/s) |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / ".data" / "labelled", help="pool.jsonl of labelled_corpus.py")
    ap.add_argument("--targets", nargs="+", default=["jargon", "debian-doc", "devil"])
    ap.add_argument("--workers", type=int, default=2, help="thresher workers = data-selection num_proc")
    ap.add_argument("--work", type=Path, default=HERE / ".data" / "dsir")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "dsir.json")
    ap.add_argument("--peers", type=Path, default=PEERS, help="the python of bench/.venv-peers")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()[0]
    rows = read_jsonl(args.data / "pool.jsonl")
    log(f"{len(rows)} passages from {args.data}")
    results = [bench_target(rows, label, args) for label in args.targets]
    cmd = "python bench/dsir.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    header = (f"{datetime.date.today().isoformat()}, commit {git_commit()}, {os.cpu_count()} CPUs, "
              f"workers {args.workers}, load average {load_start:.1f} at the start and {os.getloadavg()[0]:.1f} at "
              f"the end (other work on the machine slows every timing); `{cmd.strip()}`")
    print(header)
    print(tables(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"header": header, "results": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
