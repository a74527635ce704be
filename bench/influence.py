#!/usr/bin/env python3
"""thresher's ``influence`` op (TRAK, Park et al. 2023) on real labelled text: how well its
scores predict retraining (linear datamodeling score), and whether removing the records it
calls harmful helps a target set more than removing random or high-loss records.

    .venv/bin/python bench/labelled_corpus.py --out bench/.data/labelled   # once
    .venv/bin/python bench/influence.py [--data bench/.data/labelled] [--work bench/.data/influence] \\
        [--n-pool 6000] [--n-target 500] [--n-eval 2000] [--subsets 50] [--proj-dims 128 512 2048] \\
        [--ensembles 1 3 5] [--lds-features embedding tfidf] [--seeds 0 1 2 3 4] \\
        [--budgets 0.05 0.1 0.2] [--noise none uniform:0.2 class:0.3] [--sections lds select] [--json FILE]

Markdown tables go to stdout, progress to stderr. BLAS and OpenMP run on one thread (set before
numpy loads, as in ``bench/model_aware.py``: the machine is a shared 2-core box).

**Data.** For data seed s: ``--n-pool`` passages drawn uniformly without replacement
(``numpy.random.default_rng(s)``) from ``pool.jsonl`` of ``bench/labelled_corpus.py`` (48,936
real passages labelled by their source, 7 classes), a target set of ``--n-target`` and a
disjoint held-out set of ``--n-eval`` passages drawn the same way from ``test.jsonl``. Features:
the static encoder's vectors (``embed: {model: static}``: model2vec distilled from
all-MiniLM-L6-v2, 256 dims, unit length), or TF-IDF (thresher's ``tfidf_features``: hashed word
1-2-grams, 2^18 columns, fitted on pool + target). The proxy is thresher's: multinomial
``LogisticRegression(C=1, max_iter=2000)``.

**1. LDS** (Park et al. 2023, Sec. 2.2; data seed 0). ``--subsets`` random halves S_j of the
pool (``default_rng(10_000 + j)``); for each, the proxy trained on S_j and its margin
``log(p_y / (1 - p_y))`` on every target record (the "actual" outputs). TRAK's predicted output
for (S_j, z) is ``sum_{i in S_j} tau(z, i)`` with tau from
``thresher.ops.model.trak.trak_scores(..., per_target=True)`` (the op's code, scores per target
record instead of summed; proxies trained on other random halves, ``default_rng([0, 1, m])``).
LDS = the Spearman correlation over the subsets of predicted vs actual, averaged over the
target records (± the standard error over them), by ``proj_dim`` (the dimension used is printed:
with embeddings the exact gradient has 7 x 257 = 1799 values, so 2048 means no projection) and
ensemble size (members 1..E of the same run). Also the damping (the kernel's ridge; the op's
default is 10/C) at ``--dampings`` multiples of 1/C, and "no kernel": damping 1e9, which
makes the scores proportional to the plain gradient dot products phi_z . phi_i (the
kernel-free TracIn-style baseline; Spearman ignores the scale).

**2. Selection.** For data seeds ``--seeds``, three pools: *none* (the true labels),
*uniform:r* (a fraction r of the pool, chosen by ``default_rng(s)``, relabelled to a uniformly
random other class) and *class:r* (a fraction r relabelled to a fixed confusable class per class:
the other class with the highest mean probability among the class's records under a proxy
trained on the whole clean pool, seed 0; the map is printed). The target and held-out sets keep
their true labels. thresher runs ``embed: {model: static}`` then ``influence: {target: <target
file>, embed: {model: static}}`` (defaults: 3 proxies on halves, proj_dim 2048 = exact here,
damping 10/C) over the pool written as JSONL, recipe seed s; ``th_influence`` is read back. For
each budget k (a fraction of the pool) three removals: the k lowest ``th_influence`` (what
``remove_harmful: k`` removes when at least k are negative; the count of negatives is printed,
and the op's own ``remove_harmful`` run is checked to remove the same ids for seed 0, class
noise, the first budget), k uniformly random (``default_rng(s)``), and the k of highest
training loss (-log p of the given label under the proxy trained on the whole pool). Then the
proxy is retrained on the rest and tested on the target set (what influence optimizes) and on
the held-out set (whether it generalizes beyond those 500 records); accuracy mean ± sample std
over the seeds, and the share of the removed records whose label was flipped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from common import REPO, T0, git_commit, log, read_jsonl, read_records, run_recipe, write_jsonl  # noqa: E402


# --- data ----------------------------------------------------------------------------------------
class Data:
    """One data seed's pool, target and held-out records, their labels and vectors."""

    def __init__(self, args, seed: int, pool: list[dict], test: list[dict], classes: list[str], encoder) -> None:
        rng = np.random.default_rng(seed)
        self.pool = [pool[i] for i in np.sort(rng.choice(len(pool), args.n_pool, replace=False))]
        picked = rng.choice(len(test), args.n_target + args.n_eval, replace=False)
        self.target = [test[i] for i in np.sort(picked[:args.n_target])]
        self.eval = [test[i] for i in np.sort(picked[args.n_target:])]
        self.classes = classes
        index = {c: i for i, c in enumerate(classes)}
        self.y, self.y_target, self.y_eval = (np.array([index[r["label"]] for r in rows])
                                              for rows in (self.pool, self.target, self.eval))
        self.x, self.x_target, self.x_eval = (encoder.encode([r["text"] for r in rows])
                                              for rows in (self.pool, self.target, self.eval))

    def tfidf(self):
        from thresher.ops.model.proxy import tfidf_features

        both = tfidf_features([r["text"] for r in self.pool + self.target])
        return both[:len(self.pool)], both[len(self.pool):]


def load(args):
    from thresher.ops.embed.encoders import load_encoder

    pool, test = read_jsonl(args.data / "pool.jsonl"), read_jsonl(args.data / "test.jsonl")
    classes = sorted({r["label"] for r in pool})
    encoder = load_encoder("static", str(args.work / "cache"), 256)
    return pool, test, classes, encoder


# --- 1. LDS --------------------------------------------------------------------------------------
def lds(args, data: Data) -> dict:
    from thresher.ops.model.proxy import fit_predict
    from thresher.ops.model.trak import margins

    out = {}
    for features in args.lds_features:
        x, xt = (data.x, data.x_target) if features == "embedding" else data.tfidf()
        n, k = len(data.y), len(data.classes)
        saved = args.work / f"lds-{features}-{n}-{len(data.y_target)}-{args.subsets}.npz"
        t0 = time.perf_counter()
        if saved.exists():  # the same draws: the retrainings are only done once
            masks, actual, seconds = (np.load(saved)[name] for name in ("masks", "actual", "seconds"))
        else:
            masks = np.zeros((args.subsets, n), bool)
            actual = np.zeros((args.subsets, len(data.y_target)))
            for j in range(args.subsets):
                rows = np.sort(np.random.default_rng(10_000 + j).choice(n, n // 2, replace=False))
                masks[j, rows] = True
                _, z = fit_predict(x[rows], data.y[rows], xt, k)
                actual[j] = margins(z, data.y_target)
            seconds = time.perf_counter() - t0
            np.savez(saved, masks=masks, actual=actual, seconds=seconds)
        log(f"LDS {features}: {args.subsets} retrainings in {float(seconds):.1f}s")
        out[features] = {"retrain_seconds": float(seconds), "rows": _lds_rows(args, data, x, xt, masks, actual)}
    return out


def _lds_rows(args, data: Data, x, xt, masks, actual) -> list[dict]:
    rows = []
    emax = max(args.ensembles)
    settings = [(p, None, "damping: the op's default") for p in args.proj_dims] + \
        [(max(args.proj_dims), m, f"damping {m:g}/C") for m in args.dampings] + \
        [(max(args.proj_dims), 1e9, "no kernel (gradient dot product)")]
    for proj_dim, damping, label in settings:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            res = _trak(x, data.y, xt, data.y_target, len(data.classes), emax, proj_dim, damping, work)
        seconds = time.perf_counter() - t0
        scores = {e: _lds_of(masks, actual, res.scores(e)) for e in args.ensembles}
        rows.append({"proj_dim": proj_dim, "used": res.projection.out_dim, "setting": label, "seconds": seconds,
                     "lds": scores, "target_accuracy": float(np.mean(res.target_accuracy))})
        log(f"  proj {proj_dim} {label}: " + ", ".join(f"E={e} {m:.3f}" for e, (m, _) in
                                                                          scores.items()) + f" ({seconds:.1f}s)")
    return rows


def _trak(x, y, xt, yt, k, ensemble, proj_dim, damping, work):
    from thresher.ops.model.trak import trak_scores

    return trak_scores(x, y, xt, yt, k, ensemble=ensemble, proj_dim=proj_dim, damping=damping, seed=0,
                       work_dir=Path(work), per_target=True)


def _lds_of(masks: np.ndarray, actual: np.ndarray, tau: np.ndarray) -> tuple[float, float]:
    from scipy.stats import spearmanr

    predicted = masks.astype(np.float64) @ tau
    rho = np.array([spearmanr(predicted[:, j], actual[:, j]).statistic for j in range(actual.shape[1])])
    rho = rho[~np.isnan(rho)]
    return float(rho.mean()), float(rho.std(ddof=1) / np.sqrt(len(rho)))


# --- 2. selection ------------------------------------------------------------------------------
def confusable_map(data: Data) -> np.ndarray:
    from thresher.ops.model.proxy import fit_predict

    p, _ = fit_predict(data.x, data.y, data.x, len(data.classes))
    k = len(data.classes)
    mean = np.array([[p[data.y == i, j].mean() if j != i else -1.0 for j in range(k)] for i in range(k)])
    return mean.argmax(axis=1)


def noisy_labels(y: np.ndarray, k: int, kind: str, rate: float, seed: int, cmap: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([seed, 1])
    flipped = np.sort(rng.choice(len(y), int(round(rate * len(y))), replace=False)) if kind != "none" else []
    noisy = y.copy()
    if kind == "uniform":
        noisy[flipped] = (y[flipped] + rng.integers(1, k, len(flipped))) % k
    elif kind == "class":
        noisy[flipped] = cmap[y[flipped]]
    return noisy


def run_influence(args, data: Data, labels: np.ndarray, seed: int, name: str, **params) -> tuple[dict, dict]:
    """thresher over the pool with the given labels: ``th_influence`` by id, and the step's manifest."""
    from thresher.manifest import find_step

    base = args.work / "runs" / name
    pool = write_jsonl([{"id": r["id"], "text": r["text"], "label": data.classes[labels[i]]}
                        for i, r in enumerate(data.pool)], base / "pool.jsonl")
    target = write_jsonl([{"text": r["text"], "label": r["label"]} for r in data.target], base / "target.jsonl")
    steps = [{"embed": {"model": "static"}},
             {"influence": {"target": str(target), "embed": {"model": "static"}, **params}}]
    run = run_recipe(pool, base / "out", steps, workers=args.workers, seed=seed, cache=args.work / "cache")
    table, kept = read_records(run.output_dir, ["id", "th_influence"])
    ids = table.column("id").to_pylist()
    scores = dict(zip(ids, table.column("th_influence").to_pylist()))
    step = find_step(run.manifest, "influence")
    removed = [i for i, k in zip(ids, kept) if not k]  # sorted: the table is
    return scores, {"info": step.get("info", {}), "seconds": step.get("seconds"), "removed": removed}


def selection(args, pool, test, classes, encoder) -> dict:
    out = {"runs": [], "maps": {}}
    for seed in args.seeds:
        data = Data(args, seed, pool, test, classes, encoder)
        cmap = confusable_map(data)
        out["maps"][seed] = {classes[i]: classes[j] for i, j in enumerate(cmap)}
        for spec in args.noise:
            kind, _, rate = spec.partition(":")
            labels = noisy_labels(data.y, len(classes), kind, float(rate or 0), seed, cmap)
            t0 = time.perf_counter()
            scores, step = run_influence(args, data, labels, seed, f"s{seed}-{kind}")
            tau = np.array([scores[r["id"]] for r in data.pool], np.float64)
            log(f"seed {seed} {spec}: influence run {time.perf_counter() - t0:.1f}s, "
                f"{int((tau < 0).sum())} negative, proxy target acc {step['info'].get('proxy_target_accuracy')}")
            entry = {"seed": seed, "noise": spec, "negative": int((tau < 0).sum()), "op_seconds": step["seconds"],
                     "info": step["info"], "results": _removals(args, data, labels, tau, seed)}
            if seed == args.seeds[0] and kind == "class":
                entry["op_check"] = _check_op(args, data, labels, tau, seed)
            out["runs"].append(entry)
    return out


def _removals(args, data: Data, labels: np.ndarray, tau: np.ndarray, seed: int) -> list[dict]:
    from thresher.ops.model.proxy import fit_predict

    n, k = len(labels), len(data.classes)
    flipped = labels != data.y
    p, _ = fit_predict(data.x, labels, data.x, k)
    loss = -np.log(np.clip(p[np.arange(n), labels], 1e-12, None))
    rng = np.random.default_rng([seed, 2])  # independent of the noise's generator
    rows = [{"budget": 0.0, "method": "none", **_retrain(data, labels, np.arange(n)), "flipped_share": None}]
    for budget in args.budgets:
        kk = int(round(budget * n))
        picks = {"influence": np.argsort(tau, kind="stable")[:kk], "loss": np.argsort(-loss, kind="stable")[:kk],
                 "random": rng.choice(n, kk, replace=False)}
        for method, drop in picks.items():
            keep = np.setdiff1d(np.arange(n), drop)
            rows.append({"budget": budget, "method": method, **_retrain(data, labels, keep),
                         "flipped_share": float(flipped[drop].mean()) if flipped.any() else None})
    return rows


def _retrain(data: Data, labels: np.ndarray, keep: np.ndarray) -> dict:
    from thresher.ops.model.proxy import fit_predict

    p, _ = fit_predict(data.x[keep], labels[keep], np.vstack([data.x_target, data.x_eval]), len(data.classes))
    t = len(data.y_target)
    return {"target_acc": float((p[:t].argmax(1) == data.y_target).mean()),
            "eval_acc": float((p[t:].argmax(1) == data.y_eval).mean())}


def _check_op(args, data: Data, labels: np.ndarray, tau: np.ndarray, seed: int) -> dict:
    """The op's own ``remove_harmful: k`` removes the k lowest scores of the annotate run."""
    kk = int(round(args.budgets[0] * len(labels)))
    _, step = run_influence(args, data, labels, seed, f"s{seed}-check", remove_harmful=kk)
    lowest = sorted(data.pool[i]["id"] for i in np.argsort(tau, kind="stable")[:kk] if tau[i] < 0)
    return {"k": kk, "removed": len(step["removed"]), "same_ids": step["removed"] == lowest}


# --- tables ---------------------------------------------------------------------------------------
def print_lds(result: dict, args) -> None:
    for features, entry in result.items():
        print(f"\n**{features}** ({args.n_pool} pool records, {args.n_target} target records, {args.subsets} "
              f"half-subsets; retraining them took {entry['retrain_seconds']:.1f}s)\n")
        print("| proj_dim (used) | setting | " + " | ".join(f"LDS, ensemble {e}" for e in args.ensembles) +
              f" | TRAK s (ensemble {max(args.ensembles)}) | proxy target acc |")
        print("|---|---|" + "---|" * len(args.ensembles) + "---|---|")
        for r in entry["rows"]:
            cells = " | ".join(f"{m:.3f} ± {se:.3f}" for m, se in (r["lds"][e] for e in args.ensembles))
            print(f"| {r['proj_dim']} ({r['used']}) | {r['setting']} | {cells} | "
                  f"{r['seconds']:.1f} | {r['target_accuracy']:.3f} |")


def _ms(values: list[float]) -> str:
    v = np.array(values, float)
    return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v.mean():.4f}"


def print_selection(result: dict, args) -> None:
    print("\nConfusable-class map (class noise), per seed:", json.dumps(result["maps"]))
    for spec in args.noise:
        runs = [r for r in result["runs"] if r["noise"] == spec]
        negatives = [r["negative"] for r in runs]
        print(f"\n**{spec}** ({len(runs)} seeds; records with negative influence: {negatives}; op seconds "
              f"{[round(r['op_seconds'], 1) for r in runs]})\n")
        print("| removed | method | target acc | held-out acc | flipped share of removed | influence better "
              "(target / held-out) |")
        print("|---|---|---|---|---|---|")
        keys = [(r["budget"], r["method"]) for r in runs[0]["results"]]
        for budget, method in keys:
            cell = [next(x for x in r["results"] if (x["budget"], x["method"]) == (budget, method)) for r in runs]
            share = [c["flipped_share"] for c in cell if c["flipped_share"] is not None]
            wins = "-"
            if method != "influence" and method != "none":
                inf = [next(x for x in r["results"] if (x["budget"], x["method"]) == (budget, "influence"))
                       for r in runs]
                wins = (f"{sum(a['target_acc'] > b['target_acc'] for a, b in zip(inf, cell))}/{len(runs)} / "
                        f"{sum(a['eval_acc'] > b['eval_acc'] for a, b in zip(inf, cell))}/{len(runs)}")
            print(f"| {budget:.0%} | {method} | {_ms([c['target_acc'] for c in cell])} | "
                  f"{_ms([c['eval_acc'] for c in cell])} | {_ms(share) if share else '-'} | {wins} |")
        for r in runs:
            if "op_check" in r:
                c = r["op_check"]
                print(f"\nOp check (seed {r['seed']}): `remove_harmful: {c['k']}` removed {c['removed']} records, "
                      f"the same ids as the k lowest negative scores: {c['same_ids']}.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "bench" / ".data" / "labelled")
    ap.add_argument("--work", type=Path, default=REPO / "bench" / ".data" / "influence")
    ap.add_argument("--n-pool", type=int, default=6000)
    ap.add_argument("--n-target", type=int, default=500)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--subsets", type=int, default=50)
    ap.add_argument("--proj-dims", type=int, nargs="+", default=[128, 512, 2048])
    ap.add_argument("--ensembles", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--dampings", type=float, nargs="+", default=[0.1, 1, 10, 100],
                    help="kernel ridge as multiples of 1/C, at the largest proj_dim")
    ap.add_argument("--lds-features", nargs="+", default=["embedding", "tfidf"], choices=("embedding", "tfidf"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--noise", nargs="+", default=["none", "uniform:0.2", "class:0.3"])
    ap.add_argument("--sections", nargs="+", default=["lds", "select"], choices=("lds", "select"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; commit "
          f"{git_commit()}; machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}.")
    print(f"Command: `python bench/influence.py {shlex.join(argv if argv is not None else sys.argv[1:])}`")
    pool, test, classes, encoder = load(args)
    results = {}
    if "lds" in args.sections:
        print("\n### 1. Linear datamodeling score")
        results["lds"] = lds(args, Data(args, 0, pool, test, classes, encoder))
        print_lds(results["lds"], args)
    if "select" in args.sections:
        print("\n### 2. Removing harmful records: target and held-out accuracy after retraining")
        results["select"] = selection(args, pool, test, classes, encoder)
        print_selection(results["select"], args)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}; total {time.perf_counter() - T0:.0f}s.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
