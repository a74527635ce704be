#!/usr/bin/env python3
"""Semantic dedup: thresher's ``dedup_semantic`` (SemDeDup) vs semhash on the same embeddings,
its removed fraction by eps, and what it finds that ``dedup_minhash`` misses (and the reverse).

    bash bench/setup_peers.sh                                   # once: bench/.venv-peers (semhash)
    THRESHER_CACHE=bench/.data/cache .venv/bin/python bench/semdedup.py \\
        [--corpus bench/.data/dedup50k] [--out bench/out/semdedup] [--json bench/out/semdedup.json] \\
        [--thresholds 0.95 0.9] [--backends usearch basic] [--repeats 3] [--workers 2]

``--corpus`` is a directory from ``bench/dedup_corpus.py`` (``corpus.jsonl``: real documents
with injected copies; ``truth.jsonl``: one line per injected copy, ``{"id": "dup/N", "dup_of",
"jaccard", "kind", "strength"}``). Run directories go to ``--out``; the raw numbers to
``--json``; the markdown tables are printed (stdout). The embedding cache is
``$THRESHER_CACHE`` (default ``bench/.data/cache``, where the static model is built).

What it measures, in order:

1. **Embeddings.** A thresher recipe with the one step ``embed: {model: static}`` (model2vec
   distilled from all-MiniLM-L6-v2, 256 dims, L2-normalised) over the corpus; each record's
   vector is read back from the cache (``EmbeddingCache.get`` of its ``th_embedding_key``).
   Every method below sees exactly these float32 vectors (the cache makes reruns free).

2. **Speed and quality vs semhash** at cosine thresholds ``--thresholds`` (thresher: ``eps =
   1 - threshold``; it removes a record at cosine ``> 1 - eps``, semhash at ``>= threshold``):

   - *thresher, decide*: ``DedupSemantic(eps).decide`` called directly (defaults: ``k = n/1000``,
     ``keep: farthest``, seed 0) in a fresh child process on a table of ``id`` and
     ``th_embedding_key``; its seconds cover reading the vectors from the cache (memory-mapped,
     sorted by id), k-means, assignment, the per-cluster similarities and building the removed
     table. Another child then times the pieces separately (``vectors_by_id``, ``fit_kmeans``,
     ``assign``, ``semdedup``) for the breakdown table. "RSS loaded" is the child's RSS before
     ``decide`` (imports and the keys table).
   - *thresher, stage*: a full recipe ``embed: {model: static}`` + ``dedup_semantic: {eps}``
     run with ``--fresh`` (the embed stage is all cache hits), and the manifest's ``seconds``
     for the ``dedup_semantic`` stage (``manifest.json["stages"]``): key extraction in the
     workers, ``decide``, and writing the kept/removed shards. The manifest records no peak RSS
     for ``decide`` (the stage's ``peak_rss_bytes`` is the workers'), so none is shown.
   - *semhash* 0.5.0 through ``bench/semdedup_peers.py`` (``bench/.venv-peers``), backend
     ``usearch`` (HNSW, semhash's default) and ``basic`` (exact brute force), on the vectors as
     an ``.npy`` in corpus order; its seconds are ``from_embeddings`` + ``self_deduplicate``
     (no loading), "RSS loaded" the runner's RSS after loading the inputs.

   **Peak RSS** of both children is that of the whole child process (imports, inputs, the dedup),
   sampled every 50 ms by ``bench/measure.py``. (Not ``ru_maxrss``: on Linux a process started by
   fork + exec inherits its parent's peak RSS in ``ru_maxrss``, so the runner's own
   ``peak_rss_mb`` reports at least this benchmark's peak; it is kept in the JSON as
   ``runner_ru_maxrss_mb``. The decide child also records its exact ``VmHWM``.)

   Each timed configuration runs ``--repeats`` times (round-robin, so a neighbouring load hits
   all alike); seconds are medians, records/s is records / median seconds. The machine may be
   shared: the load average is recorded with each run.

   **Precision/recall/F1** are ``thresher.dedup_eval.score`` of the removed ids against the
   truth, for every method alike (thresher's from its output or its ``decide`` table, semhash's
   from its removed list): the truth pairs (copy, original) form clusters; a cluster of ``s``
   records should lose ``s - 1`` of them, whichever they are. A removed record counts as a true
   positive while its cluster still has another member (so removing an injected copy ``dup/N``,
   or its original instead, is right), as a false positive when it is outside every truth
   cluster (a semantic near-duplicate the corpus builder did not inject; only Jaccard >= 0.5
   natural duplicates were purged from the base) or when its whole cluster is gone; a cluster
   member left over is a false negative.

   **Agreement** is the Jaccard similarity of two methods' removed id sets, and of their
   *involved* sets (removed ids and the ids they name as ``dup_of``), which does not depend on
   which member of a group is kept. thresher ranks a cluster's records by distance to the
   centroid (``farthest`` kept first) and semhash by input order, so the table also shows
   thresher with ``keep: priority`` on the input row number (``prefer: lowest``): semhash's
   keep order.

3. **Removed fraction vs eps**: ``dedup_semantic: {sweep: [0.005, ..., 0.2]}`` in a recipe (the
   op prints and records the removed fraction per eps, removing nothing), and ``decide`` at each
   eps for its precision/recall (the sweep's counts are checked against the removed counts).

4. **MinHash vs SemDeDup**: a recipe with ``dedup_minhash: {}`` (threshold 0.8, defaults) and
   ``decide`` at the eps of best F1 in step 3. Per truth ``kind`` (and per Jaccard bin), the
   recall of each method: a truth pair (copy, original) is *found* when the two records end in
   the same group of that method (the connected components of its removed -> ``dup_of``
   links). "cluster split" counts the pairs SemDeDup missed although their cosine exceeds its
   threshold: they fell in different k-means clusters. Three example pairs (texts truncated)
   that only MinHash finds, three that only SemDeDup finds, and three SemDeDup removals outside
   the truth.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from common import git_commit, loadavg, log, run_recipe, vectors  # noqa: E402
from measure import measured  # noqa: E402  bench/measure.py: wall time and sampled peak RSS of a process

PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
PEERS_RUNNER = HERE / "semdedup_peers.py"
SWEEP = [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2]
JACCARD_BINS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0), (1.0, 1.01)]


def rss_mb(field: str = "VmRSS") -> float:
    """This process's current RSS (``VmRSS``) or its peak since exec (``VmHWM``), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# --- the decide child ------------------------------------------------------------------------
def decide_child(argv: list[str]) -> int:
    """``semdedup.py _decide KEYS JOBS OUT CACHE``: run ``DedupSemantic.decide`` for each job
    (``{"label", "eps", "keep", "sweep", "breakdown"}``) on the keys table; write the results."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.ops.base import OpContext
    from thresher.ops.dedup.semantic import DedupSemantic

    keys_path, jobs, out, cache = Path(argv[0]), json.loads(argv[1]), Path(argv[2]), Path(argv[3])
    keys = pq.read_table(keys_path, columns=["id", "th_embedding_key", "row"])
    keys = keys.append_column("priority", keys.column("row").cast(pa.float64())).drop(["row"])
    loaded = rss_mb()
    results = []
    for job in jobs:
        params = {"eps": job.get("eps", 0.05), "sweep": job.get("sweep")}
        if job.get("keep") == "priority":
            params.update(keep="priority", priority="priority", prefer="lowest")
        op = DedupSemantic(**params)
        ctx = OpContext(seed=0, step="dedup_semantic", cache_dir=cache)
        t0 = time.perf_counter()
        table = op.decide(keys, ctx)
        seconds = time.perf_counter() - t0
        res = {**job, "seconds": seconds, "vmhwm_mb": rss_mb("VmHWM"),
               "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "rss_loaded_mb": loaded, "info": ctx.info, "n": keys.num_rows,
               "removed": [{"id": i, "dup_of": d, "score": s} for i, d, s in
                           zip(*(table.column(c).to_pylist() for c in ("id", "dup_of", "score")))]}
        if job.get("breakdown"):
            res["breakdown"] = breakdown(op, keys, ctx)
        results.append(res)
    out.write_text(json.dumps(results) + "\n")
    return 0


def breakdown(op, keys, ctx) -> dict:
    """Seconds of each piece of ``decide``, timed separately with its arguments."""
    import math

    from thresher.ops.cluster.kmeans_core import assign, fit_kmeans
    from thresher.ops.dedup.semantic import semdedup
    from thresher.ops.embed.vectors import vectors_by_id

    t = [time.perf_counter()]
    table, x = vectors_by_id(keys, ctx)
    t.append(time.perf_counter())
    k = op.k if op.k is not None else max(1, math.ceil(len(x) / 1000))
    centroids = fit_kmeans(x, k, niter=op.niter, seed=ctx.seed, spherical=op.spherical,
                           max_points_per_centroid=op.max_points_per_centroid)
    t.append(time.perf_counter())
    labels, dist = assign(x, centroids, op.spherical)
    t.append(time.perf_counter())
    semdedup(x, labels, op._preference(table, dist), op.chunk_mb * 2**20)
    t.append(time.perf_counter())
    sizes = np.bincount(labels, minlength=k)
    return {"load_vectors": t[1] - t[0], "kmeans_fit": t[2] - t[1], "assign": t[3] - t[2],
            "cluster_similarity": t[4] - t[3], "k": k, "largest_cluster": int(sizes.max()),
            "pairs": int((sizes.astype(np.int64) ** 2).sum() // 2)}


def child_usage(cmd: list[str], log_path: Path) -> dict:
    """A child's load average before, wall seconds and peak RSS (MB), as this report names them."""
    m = measured(cmd, log_path)
    return {"load_before": m["load_before"], "process_seconds": m["seconds"],
            "peak_rss_mb": m["peak_rss_bytes"] / 2**20}


def run_decide(work: Path, keys: Path, jobs: list[dict], cache: Path, tag: str) -> list[dict]:
    """The decide child's results, each with the child's sampled peak RSS (``peak_rss_mb``)."""
    out = work / f"decide-{tag}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "_decide", str(keys), json.dumps(jobs), str(out), str(cache)]
    m = child_usage(cmd, work / f"decide-{tag}.log")
    results = json.loads(out.read_text())
    for r in results:
        r.update(m)
    return results


# --- recipes ---------------------------------------------------------------------------------
def corpus_run(corpus: Path, out: Path, steps: list[dict], workers: int, cache: Path) -> dict:
    """The manifest of a recipe over the corpus, with ``_wall_seconds`` and ``_load_before``."""
    load = loadavg()
    run = run_recipe(corpus / "corpus.jsonl", out, steps, workers=workers, cache=cache)
    return {**run.manifest, "_wall_seconds": run.seconds, "_load_before": load}


def removed_rows(out: Path, step: str) -> list[dict]:
    import pyarrow.compute as pc

    from thresher import read_output

    t = read_output(out, "removed", ["id", "dup_of", "removed_by"])
    t = t.filter(pc.equal(t.column("removed_by"), step))
    return [{"id": i, "dup_of": d} for i, d in zip(t.column("id").to_pylist(), t.column("dup_of").to_pylist())]


def embed(corpus: Path, work: Path, workers: int, cache: Path) -> tuple[dict, list[str], np.ndarray]:
    """Run the embed recipe; write the keys table (corpus order), E.npy and ids.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher import read_output

    manifest = corpus_run(corpus, work / "embed", [{"embed": {"model": "static"}}], workers, cache)
    table = read_output(work / "embed", "kept", ["id", "th_embedding_key"])
    ids = [json.loads(line)["id"] for line in open(corpus / "corpus.jsonl", "rb")]
    at = {i: k for k, i in enumerate(table.column("id").to_pylist())}
    if len(at) != len(ids) or len(set(ids)) != len(ids):
        raise SystemExit(f"embed kept {len(at)} of {len(ids)} records, or ids are not distinct")
    table = table.take(pa.array([at[i] for i in ids]))
    table = table.append_column("row", pa.array(np.arange(len(ids), dtype=np.int64)))
    pq.write_table(table, work / "keys.parquet")
    x = vectors(cache, table.column("th_embedding_key"))
    np.save(work / "E.npy", x)
    (work / "ids.json").write_text(json.dumps(ids))
    return manifest, ids, x


def run_semhash(work: Path, backend: str, threshold: float, tag: str) -> dict:
    out = work / f"semhash-{backend}-{threshold}-{tag}.json"
    cmd = [str(PEERS_PYTHON), str(PEERS_RUNNER), "--embeddings", str(work / "E.npy"), "--ids",
           str(work / "ids.json"), "--threshold", str(threshold), "--out", str(out), "--backend", backend]
    m = child_usage(cmd, out.with_suffix(".log"))
    res = json.loads(out.read_text())
    res["runner_ru_maxrss_mb"] = res.pop("peak_rss_mb")  # inherits this process's peak: see the module doc
    res.update(m)
    return res


# --- scoring ---------------------------------------------------------------------------------
def groups_of(removed: list[dict]) -> dict[str, str]:
    """Each involved id's group root under the removed -> dup_of links."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r in removed:
        a, b = find(r["id"]), find(r["dup_of"])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {k: find(k) for k in list(parent)}


def found_pairs(removed: list[dict], truth: list[dict]) -> np.ndarray:
    g = groups_of(removed)
    return np.array([t["id"] in g and t["dup_of"] in g and g[t["id"]] == g[t["dup_of"]] for t in truth])


def scores(removed: list[dict], truth: list[dict]) -> dict:
    from thresher.dedup_eval import score

    return score([r["id"] for r in removed], truth).to_dict()


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def involved(removed: list[dict]) -> set:
    return {r["id"] for r in removed} | {r["dup_of"] for r in removed}


def agreement(a: list[dict], b: list[dict]) -> dict:
    ra, rb = {r["id"] for r in a}, {r["id"] for r in b}
    return {"removed_a": len(ra), "removed_b": len(rb), "both": len(ra & rb),
            "jaccard_removed": jaccard(ra, rb), "jaccard_involved": jaccard(involved(a), involved(b))}


def short(text: str, n: int = 150) -> str:
    text = " ".join(text.split())
    text = text if len(text) <= n else text[:n - 1] + "…"
    return text.replace("|", "\\|").replace("`", "'")


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    from thresher.manifest import find_stage, step_info

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_decide"]:
        return decide_child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=HERE / ".data" / "dedup50k")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "semdedup")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "semdedup.json")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.95, 0.9])
    ap.add_argument("--backends", nargs="+", default=["usearch", "basic"], choices=["usearch", "basic"])
    ap.add_argument("--sweep", type=float, nargs="+", default=SWEEP)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    cache = Path(os.environ.get("THRESHER_CACHE") or HERE / ".data" / "cache").resolve()
    os.environ["THRESHER_CACHE"] = str(cache)
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve()
    started = time.perf_counter()
    truth = [json.loads(line) for line in open(corpus / "truth.jsonl", "rb") if line.strip()]
    texts = {(d := json.loads(line))["id"]: d["text"] for line in open(corpus / "corpus.jsonl", "rb")}
    report: dict = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
                    "git_head": git_commit(short=False), "corpus": str(corpus), "cache": str(cache),
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                    "thresholds": args.thresholds, "repeats": args.repeats, "workers": args.workers}

    # 1. embeddings
    log("1. embed: {model: static}")
    m, ids, x = embed(corpus, work, args.workers, cache)
    n = len(ids)
    report["embed"] = {"n": n, "dim": int(x.shape[1]), "info": step_info(m, "embed"),
                       "stage_seconds": find_stage(m, "embed")["seconds"], "wall_seconds": m["_wall_seconds"]}
    log(f"   {n} records, {x.shape[1]} dims, {report['embed']['info'].get('encoded')} encoded")
    keys = work / "keys.parquet"

    # 2. speed and quality vs semhash
    runs: dict[str, list[dict]] = {}
    for rep in range(args.repeats):
        for thr in args.thresholds:
            eps = round(1 - thr, 6)
            log(f"2. repeat {rep + 1}/{args.repeats}, threshold {thr}: thresher decide")
            res = run_decide(work, keys, [{"label": "farthest", "eps": eps}], cache, f"{thr}-{rep}")[0]
            res["breakdown"] = run_decide(work, keys, [{"label": "breakdown", "eps": eps, "breakdown": True}],
                                          cache, f"{thr}-{rep}-breakdown")[0]["breakdown"]
            runs.setdefault(f"thresher-decide@{thr}", []).append(res)
            log(f"   {res['seconds']:.2f}s, {len(res['removed'])} removed; thresher stage (recipe)")
            mm = corpus_run(corpus, work / f"stage-{thr}", [{"embed": {"model": "static"}},
                                                              {"dedup_semantic": {"eps": eps}}], args.workers, cache)
            st = find_stage(mm, "dedup_semantic")
            runs.setdefault(f"thresher-stage@{thr}", []).append(
                {"seconds": st["seconds"], "task_seconds": st["task_seconds"], "wall_seconds": mm["_wall_seconds"],
                 "load_before": mm["_load_before"], "info": step_info(mm, "dedup_semantic"),
                 "removed": removed_rows(work / f"stage-{thr}", "dedup_semantic"),
                 "dedup_eval": evaluate_out(work / f"stage-{thr}", corpus)})
            log(f"   stage {st['seconds']:.2f}s")
            for backend in args.backends:
                res = run_semhash(work, backend, thr, str(rep))
                runs.setdefault(f"semhash-{backend}@{thr}", []).append(res)
                log(f"   semhash {backend}: {res['seconds']:.2f}s, {len(res['removed'])} removed")
    speed_rows, agree_rows = [], []
    for thr in args.thresholds:
        for name in ("thresher-decide", "thresher-stage", *(f"semhash-{b}" for b in args.backends)):
            rs = runs[f"{name}@{thr}"]
            first = rs[0]
            sec = median([r["seconds"] for r in rs])
            row = {"method": name, "threshold": thr, "seconds": sec, "seconds_runs": [r["seconds"] for r in rs],
                   "records_per_s": n / sec, "removed": len(first["removed"]),
                   "removed_runs": [len(r["removed"]) for r in rs],
                   "peak_rss_mb": median([r["peak_rss_mb"] for r in rs]) if "peak_rss_mb" in first else None,
                   "rss_loaded_mb": median([r["rss_loaded_mb"] for r in rs]) if "rss_loaded_mb" in first else None,
                   "load_before": [r["load_before"] for r in rs], **scores(first["removed"], truth)}
            if name == "thresher-decide":
                row["breakdown"] = {k: median([r["breakdown"][k] for r in rs]) for k in rs[0]["breakdown"]}
                row["info"] = first["info"]
                row["chained"] = sum(r["score"] <= thr for r in first["removed"])
                row["vmhwm_mb"] = median([r["vmhwm_mb"] for r in rs])
            if name == "thresher-stage":
                row["task_seconds"] = median([r["task_seconds"] for r in rs])
                row["dedup_eval"] = first["dedup_eval"]
                row["same_as_decide"] = ({r["id"] for r in first["removed"]}
                                         == {r["id"] for r in runs[f"thresher-decide@{thr}"][0]["removed"]})
            if name.startswith("semhash"):
                row["index_seconds"] = median([r["index_seconds"] for r in rs])
                row["dedup_seconds"] = median([r["dedup_seconds"] for r in rs])
                row["runner_ru_maxrss_mb"] = [r["runner_ru_maxrss_mb"] for r in rs]
            row["stable"] = len({tuple(sorted(r["id"] for r in rr["removed"])) for rr in rs}) == 1
            speed_rows.append(row)

    # keep order as semhash's (input order), for the agreement
    log("2. thresher keep: priority (input order), step 3 eps runs and the sweep (decide)")
    jobs = [{"label": f"priority@{thr}", "eps": round(1 - thr, 6), "keep": "priority"} for thr in args.thresholds]
    jobs += [{"label": f"eps@{e}", "eps": e} for e in args.sweep]
    jobs += [{"label": "sweep", "eps": 0.05, "sweep": args.sweep}]
    extra = {r["label"]: r for r in run_decide(work, keys, jobs, cache, "eps")}
    for thr in args.thresholds:
        td, tp = runs[f"thresher-decide@{thr}"][0]["removed"], extra[f"priority@{thr}"]["removed"]
        pairs = [("thresher (farthest)", td, f"semhash-{b}", runs[f"semhash-{b}@{thr}"][0]["removed"])
                 for b in args.backends]
        pairs += [("thresher (input order)", tp, f"semhash-{b}", runs[f"semhash-{b}@{thr}"][0]["removed"])
                  for b in args.backends]
        pairs += [("thresher (farthest)", td, "thresher (input order)", tp)]
        if len(args.backends) == 2:
            pairs.append(("semhash-usearch", runs[f"semhash-usearch@{thr}"][0]["removed"],
                          "semhash-basic", runs[f"semhash-basic@{thr}"][0]["removed"]))
        for a, ra, b, rb in pairs:
            agree_rows.append({"threshold": thr, "a": a, "b": b, **agreement(ra, rb)})
        agree_rows.append({"threshold": thr, "a": "thresher (input order)", "b": "(scores)",
                           "scores": scores(tp, truth)})

    # 3. sweep
    log("3. sweep recipe")
    sm = corpus_run(corpus, work / "sweep", [{"embed": {"model": "static"}},
                                             {"dedup_semantic": {"sweep": args.sweep}}], args.workers, cache)
    recipe_sweep = step_info(sm, "dedup_semantic").get("sweep", [])
    sweep_rows = []
    for e in sorted(args.sweep):
        r = extra[f"eps@{e}"]
        rs = next((s for s in recipe_sweep if abs(s["eps"] - e) < 1e-12), {})
        hs = next((s for s in extra["sweep"]["info"].get("sweep", []) if abs(s["eps"] - e) < 1e-12), {})
        sweep_rows.append({"eps": e, "threshold": round(1 - e, 6), "sweep_removed": rs.get("removed"),
                           "sweep_fraction": rs.get("fraction"), "decide_sweep_removed": hs.get("removed"),
                           "removed": len(r["removed"]), "chained": sum(x["score"] <= 1 - e for x in r["removed"]),
                           **scores(r["removed"], truth)})
    sweep_check = {"recipe_removed_nothing": sm["counts"]["removed"] == 0,
                   "counts_match": all(s["sweep_removed"] == s["removed"] == s["decide_sweep_removed"]
                                       for s in sweep_rows)}
    best = max(sweep_rows, key=lambda s: (s["f1"], -s["eps"]))

    # 4. minhash vs semdedup
    log(f"4. dedup_minhash recipe; SemDeDup at eps {best['eps']}")
    mh = corpus_run(corpus, work / "minhash", [{"dedup_minhash": {}}], args.workers, cache)
    mh_removed = removed_rows(work / "minhash", "dedup_minhash")
    sem_removed = extra[f"eps@{best['eps']}"]["removed"]
    compare = compare_methods(truth, mh_removed, sem_removed, ids, x, texts, 1 - best["eps"])
    compare["minhash"] = {"seconds": mh["_wall_seconds"],
                          "stage_seconds": find_stage(mh, "dedup_minhash")["seconds"],
                          "removed": len(mh_removed), **scores(mh_removed, truth)}
    compare["semantic"] = {"eps": best["eps"], "removed": len(sem_removed), **scores(sem_removed, truth)}

    report.update(speed=speed_rows, agreement=agree_rows, sweep=sweep_rows, sweep_check=sweep_check,
                  best_eps=best["eps"], compare=compare, total_seconds=time.perf_counter() - started,
                  runs={k: [{kk: vv for kk, vv in r.items() if kk not in ("removed", "stderr")} for r in v]
                        for k, v in runs.items()})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    text = render(report)
    (work / "table.md").write_text(text)
    print(text)
    log(f"done in {report['total_seconds']:.0f}s -> {args.json}")
    return 0


def evaluate_out(out: Path, corpus: Path) -> dict:
    from thresher.dedup_eval import evaluate

    return evaluate(out, corpus / "truth.jsonl").to_dict()


def compare_methods(truth, mh_removed, sem_removed, ids, x, texts, threshold) -> dict:
    row = {i: k for k, i in enumerate(ids)}
    a = np.array([row[t["id"]] for t in truth])
    b = np.array([row[t["dup_of"]] for t in truth])
    cos = np.einsum("ij,ij->i", x[a], x[b])
    fm, fs = found_pairs(mh_removed, truth), found_pairs(sem_removed, truth)
    kinds = sorted({t["kind"] for t in truth})
    kind = np.array([t["kind"] for t in truth])
    jac = np.array([t["jaccard"] for t in truth])
    per_kind = []
    for k in kinds + ["all"]:
        m = kind == k if k != "all" else np.ones(len(truth), bool)
        per_kind.append({"kind": k, "pairs": int(m.sum()), "mean_jaccard": float(jac[m].mean()),
                         "median_cosine": float(np.median(cos[m])), "cos_above": int((cos[m] > threshold).sum()),
                         "minhash": float(fm[m].mean()), "semantic": float(fs[m].mean()),
                         "only_minhash": int((fm & ~fs)[m].sum()), "only_semantic": int((fs & ~fm)[m].sum()),
                         "cluster_split": int((~fs & (cos > threshold))[m].sum())})
    per_bin = []
    for lo, hi in JACCARD_BINS:
        m = (jac >= lo) & (jac < hi)
        per_bin.append({"jaccard": f"[{lo}, {min(hi, 1.0)}{']' if hi > 1 else ')'}", "pairs": int(m.sum()),
                        "median_cosine": float(np.median(cos[m])) if m.any() else None,
                        "minhash": float(fm[m].mean()) if m.any() else None,
                        "semantic": float(fs[m].mean()) if m.any() else None})

    def examples(mask: np.ndarray, count: int = 3) -> list[dict]:
        idx = np.flatnonzero(mask)
        by_kind: dict[str, list[int]] = {}
        for i in sorted(idx.tolist(), key=lambda i: int(truth[i]["id"].split("/")[-1])):
            by_kind.setdefault(truth[i]["kind"], []).append(i)
        order = sorted(by_kind, key=lambda k: -len(by_kind[k]))
        picked = [by_kind[k][0] for k in order[:count]]
        picked += [i for k in order for i in by_kind[k][1:]][:count - len(picked)]
        return [{"copy": truth[i]["id"], "original": truth[i]["dup_of"], "kind": truth[i]["kind"],
                 "jaccard": truth[i]["jaccard"], "cosine": float(cos[i]), "copy_text": short(texts[truth[i]["id"]]),
                 "original_text": short(texts[truth[i]["dup_of"]])} for i in picked]

    in_truth = {t["id"] for t in truth} | {t["dup_of"] for t in truth}
    outside = [r for r in sem_removed if r["id"] not in in_truth and r["dup_of"] not in in_truth]
    sources: dict[str, int] = {}
    for r in outside:
        sources[r["id"].split("/")[0]] = sources.get(r["id"].split("/")[0], 0) + 1
    direct = sorted((r for r in outside if r["score"] > threshold), key=lambda r: (-r["score"], r["id"]))
    step = max(1, len(direct) // 3)
    false_pos = [{"removed": r["id"], "dup_of": r["dup_of"], "cosine": r["score"],
                  "removed_text": short(texts[r["id"]]), "dup_of_text": short(texts[r["dup_of"]])}
                 for r in direct[::step][:3]]
    return {"per_kind": per_kind, "per_jaccard": per_bin, "threshold": threshold,
            "only_minhash_examples": examples(fm & ~fs), "only_semantic_examples": examples(fs & ~fm),
            "semantic_outside_truth": len(outside), "semantic_outside_direct": len(direct),
            "semantic_outside_sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
            "semantic_outside_examples": false_pos}


# --- rendering -------------------------------------------------------------------------------
def render(r: dict) -> str:
    f = "{:.4f}".format
    e = r["embed"]
    lines = [f"# Semantic dedup: thresher dedup_semantic vs semhash, and vs dedup_minhash ({r['date']})", "",
             f"- command: `{r['command']}`", f"- git HEAD: `{r['git_head']}`",
             f"- corpus: `{r['corpus']}` ({e['n']:,} records); {r['machine']['cpus']} CPUs; "
             f"{r['repeats']} repeats, medians; thresher workers {r['workers']}",
             f"- embeddings: `embed: {{model: static}}` -> {e['dim']} dims; {e['info'].get('encoded', 0):,} encoded, "
             f"{e['info'].get('cache_hits', 0):,} cache hits, embed stage {e['stage_seconds']:.1f}s", "",
             "## Speed and quality on the same embeddings", "",
             "| method | cosine thr | seconds (median) | runs | records/s | peak RSS MB (process) | RSS loaded MB "
             "| removed | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["speed"]:
        rss = f"{s['peak_rss_mb']:.0f}" if s["peak_rss_mb"] is not None else "-"
        loaded = f"{s['rss_loaded_mb']:.0f}" if s["rss_loaded_mb"] is not None else "-"
        runs = " / ".join(f"{v:.2f}" for v in s["seconds_runs"])
        lines.append(f"| {s['method']} | {s['threshold']} | {s['seconds']:.2f} | {runs} | {s['records_per_s']:,.0f} "
                     f"| {rss} | {loaded} | {s['removed']:,} | {f(s['precision'])} | {f(s['recall'])} | {f(s['f1'])} |")
    lines += ["", "thresher-decide: `DedupSemantic.decide` alone in a child process (vectors read from the cache "
              "inside it); thresher-stage: the manifest's `seconds` of the dedup_semantic stage (keys, decide, "
              "apply); semhash: `from_embeddings` + `self_deduplicate` (inputs loaded before). Peak RSS: the "
              "child process's, sampled every 50 ms (thresher decide child's exact VmHWM: " + ", ".join(
                  f"{s['vmhwm_mb']:.0f} MB at {s['threshold']}" for s in r["speed"] if "vmhwm_mb" in s) + ").", "",
              "### Where the time goes (medians)", "",
              "| method | cosine thr | load vectors | k-means fit | assign | per-cluster similarity | k | largest "
              "cluster | pairs compared | removed via chain (score <= thr) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["speed"]:
        if "breakdown" in s:
            b = s["breakdown"]
            lines.append(f"| thresher-decide | {s['threshold']} | {b['load_vectors']:.2f} | {b['kmeans_fit']:.2f} | "
                         f"{b['assign']:.2f} | {b['cluster_similarity']:.2f} | {b['k']:.0f} | "
                         f"{b['largest_cluster']:,.0f} | {b['pairs']:,.0f} | {s['chained']:,} |")
    for s in r["speed"]:
        if "index_seconds" in s:
            lines.append(f"| {s['method']} | {s['threshold']} | - | index {s['index_seconds']:.2f} | - | "
                         f"queries+selection {s['dedup_seconds']:.2f} | - | - | - | - |")
    stage_rows = [s for s in r["speed"] if s["method"] == "thresher-stage"]
    lines += ["", "thresher-stage: " + "; ".join(
        f"thr {s['threshold']}: worker task seconds {s['task_seconds']:.2f}, removed set same as decide's: "
        f"{s['same_as_decide']}, dedup_eval F1 {s['dedup_eval']['f1']:.4f}" for s in stage_rows),
        "Removed sets identical across repeats: " + ", ".join(
        f"{s['method']}@{s['threshold']}: {s['stable']}" for s in r["speed"]), "",
        "## Agreement of removed sets", "",
        "| cosine thr | A | B | removed A | removed B | both | Jaccard (removed ids) | Jaccard (involved ids) |",
        "|---|---|---|---|---|---|---|---|"]
    for a in r["agreement"]:
        if "scores" in a:
            continue
        lines.append(f"| {a['threshold']} | {a['a']} | {a['b']} | {a['removed_a']:,} | {a['removed_b']:,} | "
                     f"{a['both']:,} | {f(a['jaccard_removed'])} | {f(a['jaccard_involved'])} |")
    lines += ["", "thresher (input order): `keep: priority` on the input row, lowest first (semhash's keep order): "
              + "; ".join(f"thr {a['threshold']}: P {f(a['scores']['precision'])} R {f(a['scores']['recall'])} "
                          f"F1 {f(a['scores']['f1'])}" for a in r["agreement"] if "scores" in a), "",
              "## thresher removed fraction vs eps (k-means fixed by the seed)", "",
              "| eps | cosine > | removed (sweep) | fraction | removed (eps run) | via chain | precision | recall "
              "| F1 |", "|---|---|---|---|---|---|---|---|---|"]
    for s in r["sweep"]:
        frac = f"{s['sweep_fraction']:.2%}" if s["sweep_fraction"] is not None else "-"
        lines.append(f"| {s['eps']} | {s['threshold']} | {s['sweep_removed']} | {frac} | {s['removed']:,} | "
                     f"{s['chained']:,} | {f(s['precision'])} | {f(s['recall'])} | {f(s['f1'])} |")
    c = r["compare"]
    lines += ["", f"Sweep checks: recipe removed nothing: {r['sweep_check']['recipe_removed_nothing']}; sweep counts "
              f"== removed counts of the eps runs: {r['sweep_check']['counts_match']}. Best F1 at eps "
              f"{r['best_eps']}.", "",
              f"## MinHash (threshold 0.8) vs SemDeDup (eps {c['semantic']['eps']})", "",
              "| method | removed | precision | recall | F1 |", "|---|---|---|---|---|",
              f"| dedup_minhash | {c['minhash']['removed']:,} | {f(c['minhash']['precision'])} | "
              f"{f(c['minhash']['recall'])} | {f(c['minhash']['f1'])} |",
              f"| dedup_semantic | {c['semantic']['removed']:,} | {f(c['semantic']['precision'])} | "
              f"{f(c['semantic']['recall'])} | {f(c['semantic']['f1'])} |", "",
              "Pair recall by kind (a truth pair is found when copy and original end in one group of the method):",
              "", "| kind | pairs | mean Jaccard | median cosine | MinHash recall | SemDeDup recall | only MinHash "
              "| only SemDeDup | SemDeDup cluster split |", "|---|---|---|---|---|---|---|---|---|"]
    for k in c["per_kind"]:
        lines.append(f"| {k['kind']} | {k['pairs']:,} | {k['mean_jaccard']:.3f} | {k['median_cosine']:.3f} | "
                     f"{f(k['minhash'])} | {f(k['semantic'])} | {k['only_minhash']:,} | {k['only_semantic']:,} | "
                     f"{k['cluster_split']:,} |")
    lines += ["", "| true Jaccard | pairs | median cosine | MinHash recall | SemDeDup recall |",
              "|---|---|---|---|---|"]
    for b in c["per_jaccard"]:
        if b["pairs"]:
            lines.append(f"| {b['jaccard']} | {b['pairs']:,} | {b['median_cosine']:.3f} | {f(b['minhash'])} | "
                         f"{f(b['semantic'])} |")
    for title, key in (("Found by MinHash only", "only_minhash_examples"),
                       ("Found by SemDeDup only", "only_semantic_examples")):
        lines += ["", f"### {title}", "", "| kind | Jaccard | cosine | copy | original |", "|---|---|---|---|---|"]
        for ex in c[key]:
            lines.append(f"| {ex['kind']} | {ex['jaccard']:.3f} | {ex['cosine']:.3f} | `{ex['copy']}`: "
                         f"{ex['copy_text']} | `{ex['original']}`: {ex['original_text']} |")
    top = ", ".join(f"{k} {v:,}" for k, v in list(c["semantic_outside_sources"].items())[:6])
    lines += ["", f"### SemDeDup removals outside the truth ({c['semantic_outside_truth']:,} removed records "
              f"with neither them nor their kept record injected or an original, "
              f"{c['semantic_outside_direct']:,} of them directly above the threshold; by source: {top}; "
              "3 direct ones across the cosine range)", "", "| cosine | removed | kept |", "|---|---|---|"]
    for ex in c["semantic_outside_examples"]:
        lines.append(f"| {ex['cosine']:.3f} | `{ex['removed']}`: {ex['removed_text']} | `{ex['dup_of']}`: "
                     f"{ex['dup_of_text']} |")
    lines += ["", f"Total runtime {r['total_seconds']:.0f}s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
