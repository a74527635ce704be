#!/usr/bin/env python3
"""Balanced sampling (thresher's ``hierarchical_kmeans`` + ``sample_balanced``, Vo et al. 2024)
against uniform random sampling of the same size, on a labelled, naturally imbalanced corpus:
what the sample's class distribution looks like, and what a proxy classifier learns from it.

    .venv/bin/python bench/labelled_corpus.py --out bench/.data/labelled    # once
    .venv/bin/python bench/balanced.py [--seeds 0 1 2 3 4] [--budgets 0.1 0.3]
        [--configs default closest ...] [--encoder static|minilm|lsa] [--workers 2] [--cache bench/.data/cache]
        [--work bench/.data/balanced] [--json bench/out/balanced.json]

**Data.** ``bench/.data/labelled/pool.jsonl`` (48,936 passages, 7 classes by source, from
python-doc 16,128 down to devil 637) is what is sampled; ``test.jsonl`` (12,234, the
stratified held-out split of ``bench/labelled_corpus.py``) is what the classifier is tested on.
The curation never sees the label: thresher runs over ``WORK/pool.jsonl``, a copy of the pool
with only ``id`` and ``text`` (written once); labels are joined back by id for evaluation.

**Balanced side** (thresher itself, through ``thresher.run``): for each seed ``s`` and budget
``f``, the recipe ``input: WORK/pool.jsonl``, ``seed: s``, ``executor: {workers: W, cache_dir:
CACHE}``, steps ``embed: {model: static}``, ``hierarchical_kmeans: {<config>}``,
``sample_balanced: {fraction: f, strategy: <config>}``, output Parquet in
``WORK/<tree>/seed<s>``. The budgets and the strategies of one tree and seed share that output
directory, so the ingest, embed and clustering stages run once per (tree, seed) and only
``sample_balanced`` runs again (the seed is in every stage's fingerprint, so each seed
recomputes them; the embed stage then finds every vector in the cache). The clustering
depends on the seed, as the recipe says. The sample is the run's ``kept/``; every record's
leaf cluster is the last element of its ``th_cluster_path`` (kept and removed records alike).

**Configurations** (``--configs``, default: all but ``resample30``). ``default`` is the op
defaults; the others are what was tried when the default did not beat random:

    default          hierarchical_kmeans {} (auto levels, for 48,936 records [979, 97, 9];
                     resample_steps 10 per level; sampling closest; niter 20),
                     sample_balanced strategy random
    closest          the default tree, sample_balanced strategy closest
    levels2          levels: the auto levels' finest two ([979, 97]), else default
    levels1          levels: the finest auto level only ([979]): the budget split evenly over the
                     leaf clusters, no hierarchy
    resample-random  hierarchical_kmeans sampling: random (resampling steps draw at random)
    resample30       hierarchical_kmeans resample_steps: [30] (three times the default; about
                     2.5x the clustering time, so only on request:
                     ``--configs resample30 --json bench/out/balanced-resample30.json``)

**Encoders** (``--encoder``): ``static`` (default) is ``embed: {model: static}`` as above;
``minilm`` is ``embed: {model: minilm}`` (384 dims; encoding the 61,170 passages takes about an
hour on 2 cores, once: the cache keeps them), with its runs in ``WORK/minilm/``.
``lsa`` asks whether an encoder that separates the sources better changes the verdict: TF-IDF
of words and word pairs, then truncated SVD to 256 dimensions, fitted on the pool's texts (not
its labels; see ``lsa_inputs``), stored beside the texts in ``WORK/lsa/{pool,test}.parquet`` and
read by ``embed: {precomputed: lsa}``; its runs live in ``WORK/lsa/``, and the classifier is
trained on the same vectors. A logistic regression on the full pool reaches macro-F1 0.83 with
them, 0.79 with the static vectors.

**Random side**: for each seed ``s`` and budget, a uniform random sample (without replacement)
of exactly as many records as the balanced sample kept, drawn with
``numpy.random.default_rng(s)`` over the pool sorted by id; the same sample serves every
configuration. Its leaf-cluster coverage is counted in the tree of the same seed and
configuration, so both sides are measured on the same tree.

**Metrics** of each sample: Shannon entropy of its label distribution in bits (7 classes: at
most log2 7 = 2.807); the share of the pool's two smallest classes (devil + jargon); the number
of distinct leaf clusters it touches. **Proxy classifier**: scikit-learn
``LogisticRegression(max_iter=2000)`` (C = 1, no class weights: the data effect, not
reweighting; BLAS limited to one thread) on the same static vectors (256 dims, L2-normalized,
read from the embedding cache via the records' ``th_embedding_key``; the test split's come
from an ``embed: {model: static}`` run over ``test.jsonl``), trained on the sample, tested on
``test.jsonl``: macro-F1, worst-class recall (the minimum over the 7 classes of per-class
recall) and accuracy. A "full pool" row trains on all 48,936 as a reference.

**Output**: a markdown table per configuration (rows budget x method, mean ± sample std over the
seeds), the paired differences balanced - random per budget (mean ± std, and in how many seeds
balanced was higher) with a verdict on macro-F1 and worst-class recall: "beats" when balanced
is higher in every seed, "loses" when lower in every seed, else "mixed"; per class, the share
of its pool records each sample took and its test recall, and the mean size of the leaf
clusters its records fall in; a summary of the verdicts over all configurations. Printed with
the date, command, git commit and thresher parameters, also written to ``WORK/table.md``; the
raw per-seed numbers (per-class counts and recalls, each run's manifest info and stage times)
go to ``--json``.

**Cost**: about 30 s of clustering per tree and seed on this 2-core machine when idle (about
60 s when other jobs share it), four trees per seed by default (``closest`` reuses the default
tree, and each second budget only reruns ``sample_balanced``), one to a few seconds per
classifier (one per sample: 10 random, 10 per configuration, 1 full pool); the first run over a
new cache also embeds the pool and the test split (about 30 s). Rerunning with an existing
``--work`` reuses every finished thresher stage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from common import git_commit, log, read_jsonl, read_records, run_recipe, vectors

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CONFIGS: dict[str, dict] = {
    "default": {"hkm": {}, "strategy": "random"},
    "closest": {"hkm": {}, "strategy": "closest"},
    "levels2": {"hkm": {"levels": 2}, "strategy": "random"},
    "levels1": {"hkm": {"levels": 1}, "strategy": "random"},
    "resample-random": {"hkm": {"sampling": "random"}, "strategy": "random"},
    "resample30": {"hkm": {"resample_steps": [30]}, "strategy": "random"},
}
DEFAULT_CONFIGS = ["default", "closest", "levels2", "levels1", "resample-random"]
METRICS = [  # key, header, format
    ("size", "size", "{:.0f}"),
    ("entropy_bits", "entropy (bits)", "{:.3f}"),
    ("small_share", "devil+jargon %", "{:.2f}"),
    ("leaves", "leaf clusters", "{:.0f}"),
    ("macro_f1", "macro-F1", "{:.4f}"),
    ("worst_recall", "worst-class recall", "{:.4f}"),
    ("accuracy", "accuracy", "{:.4f}"),
]


def write_unlabelled(pool: list[dict], path: Path) -> None:
    """``id`` and ``text`` only; rewritten only when different (an unchanged file keeps the stages' fingerprints)."""
    data = "".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in pool)
    if path.exists() and path.read_text(encoding="utf-8") == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)


def lsa_inputs(pool_path: Path, test_path: Path, folder: Path, dims: int = 256) -> tuple[Path, Path]:
    """The ``lsa`` encoder: TF-IDF (words and word pairs, sublinear tf, min_df 2, 200,000 features)
    then truncated SVD to ``dims``, fitted on the pool's texts only (never the labels) and applied
    to both splits. Written once as ``FOLDER/pool.parquet`` (id, text, lsa) and ``FOLDER/test.parquet``
    (id, text, label, lsa), which the runs read through ``embed: {precomputed: lsa}``; delete the
    folder to refit."""
    pool_out, test_out = folder / "pool.parquet", folder / "test.parquet"
    if pool_out.exists() and test_out.exists():
        return pool_out, test_out
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    log("fitting the lsa encoder on the pool's texts")
    pool, test = read_jsonl(pool_path), read_jsonl(test_path)
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=200_000, dtype=np.float32)
    svd = TruncatedSVD(dims, algorithm="randomized", n_iter=4, random_state=0)
    x_pool = svd.fit_transform(tfidf.fit_transform([r["text"] for r in pool]))
    x_test = svd.transform(tfidf.transform([r["text"] for r in test]))
    folder.mkdir(parents=True, exist_ok=True)
    for rows, x, path, columns in ((pool, x_pool, pool_out, ["id", "text"]), (test, x_test, test_out,
                                                                             ["id", "text", "label"])):
        table = pa.table({c: [r[c] for r in rows] for c in columns})
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(x.astype(np.float32).reshape(-1)), dims)
        pq.write_table(table.append_column("lsa", vectors), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    return pool_out, test_out


def resolved_hkm(hkm: dict, n: int) -> dict:
    """The config's hierarchical_kmeans params, with ``levels: k`` as the finest k auto levels."""
    from thresher.ops.cluster.hierarchical import auto_levels

    out = dict(hkm)
    if isinstance(out.get("levels"), int):
        out["levels"] = auto_levels(n)[:out["levels"]]
    return out


def tree_name(hkm: dict) -> str:
    if not hkm:
        return "tree-default"
    parts = []
    for key, value in sorted(hkm.items()):
        parts.append(f"{key}-{'_'.join(map(str, value)) if isinstance(value, list) else value}")
    return "tree-" + "-".join(parts)


# --- metrics ---------------------------------------------------------------------------------
def entropy_bits(labels: np.ndarray, n_classes: int) -> float:
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


class Evaluator:
    def __init__(self, x_test: np.ndarray, y_test: np.ndarray, classes: list[str]) -> None:
        self.x_test, self.y_test, self.classes = x_test, y_test, classes

    def __call__(self, x: np.ndarray, y: np.ndarray) -> dict:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score, recall_score
        from threadpoolctl import threadpool_limits

        t0 = time.perf_counter()
        with threadpool_limits(1):  # several BLAS pools on 2 busy cores: 1 thread is ~6x faster
            model = LogisticRegression(max_iter=2000).fit(x, y)
            pred = model.predict(self.x_test)
        labels = np.arange(len(self.classes))
        recall = recall_score(self.y_test, pred, labels=labels, average=None, zero_division=0)
        worst = int(np.argmin(recall))
        return {"macro_f1": float(f1_score(self.y_test, pred, labels=labels, average="macro", zero_division=0)),
                "worst_recall": float(recall[worst]), "worst_class": self.classes[worst],
                "accuracy": float((pred == self.y_test).mean()),
                "recall": {c: round(float(r), 4) for c, r in zip(self.classes, recall)},
                "lr_iterations": int(np.max(model.n_iter_)), "fit_seconds": round(time.perf_counter() - t0, 2)}


def sample_metrics(mask: np.ndarray, y: np.ndarray, leaf: np.ndarray, small: list[int], n_classes: int,
                   evaluate: Evaluator, x: np.ndarray, fit: dict | None = None) -> dict:
    ys = y[mask]
    out = {"size": int(mask.sum()), "entropy_bits": entropy_bits(ys, n_classes),
           "small_share": 100.0 * float(np.isin(ys, small).mean()),
           "leaves": int(np.unique(leaf[mask]).size),
           "class_counts": np.bincount(ys, minlength=n_classes).tolist()}
    out.update(fit if fit is not None else evaluate(x[mask], ys))
    return out


# --- tables ----------------------------------------------------------------------------------
def mean_std(values: list[float], fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(float(np.mean(values)))} ± {fmt.replace('+', '').format(float(np.std(values, ddof=1)))}"


def verdict(deltas: list[float]) -> str:
    if all(d > 0 for d in deltas):
        return "beats"
    if all(d < 0 for d in deltas):
        return "loses"
    return "mixed"


def config_table(name: str, cfg: dict, runs: dict, budgets: list[float], seeds: list[int], full: dict,
                 pool_row: dict, is_default: bool) -> list[str]:
    head = "| budget | method | " + " | ".join(h for _, h, _ in METRICS) + " |"
    lines = [f"### {name}{' (the default configuration)' if is_default else ''}: hierarchical_kmeans "
             f"{json.dumps(cfg['hkm_resolved'])}, sample_balanced strategy {cfg['strategy']}",
             "", head, "|" + "---|" * (len(METRICS) + 2)]
    for f in budgets:
        for method in ("random", "balanced"):
            rows = [runs[(f, s)][method] for s in seeds]
            cells = [mean_std([r[k] for r in rows], fmt) for k, _, fmt in METRICS]
            lines.append(f"| {f:.0%} | {method} | " + " | ".join(cells) + " |")
    for label, row in (("full pool", full), ("(pool)", pool_row)):
        cells = [mean_std([row.get(k)], fmt) for k, _, fmt in METRICS]
        lines.append(f"| 100% | {label} | " + " | ".join(cells) + " |")
    lines += ["", "| budget | Δ macro-F1 (balanced - random) | balanced higher | verdict | "
              "Δ worst-class recall | balanced higher | verdict | worst class (balanced / random) |",
              "|---|---|---|---|---|---|---|---|"]
    for f in budgets:
        cells = []
        for key in ("macro_f1", "worst_recall"):
            d = [runs[(f, s)]["balanced"][key] - runs[(f, s)]["random"][key] for s in seeds]
            cells += [mean_std(d, "{:+.4f}"), f"{sum(x > 0 for x in d)}/{len(d)}", verdict(d)]
        worst = [", ".join(sorted({runs[(f, s)][m]["worst_class"] for s in seeds})) for m in ("balanced", "random")]
        lines.append(f"| {f:.0%} | " + " | ".join(cells) + f" | {worst[0]} / {worst[1]} |")
    return lines


def class_table(runs: dict, budgets: list[float], seeds: list[int], classes: list[str], counts: dict,
                leaf_size: dict, full: dict) -> list[str]:
    """Per class: the share of its pool records that the sample took (%) / its test recall, means
    over the seeds; and the mean size of the leaf cluster its records fall in."""
    lines = ["", "per class: % of the class's pool records in the sample / test recall (means over seeds)", "",
             "| budget | method | " + " | ".join(classes) + " |", "|" + "---|" * (len(classes) + 2)]
    for f in budgets:
        for method in ("random", "balanced"):
            rows = [runs[(f, s)][method] for s in seeds]
            cells = [f"{np.mean([100 * r['class_counts'][i] / counts[c] for r in rows]):.1f} / "
                     f"{np.mean([r['recall'][c] for r in rows]):.3f}" for i, c in enumerate(classes)]
            lines.append(f"| {f:.0%} | {method} | " + " | ".join(cells) + " |")
    lines.append("| 100% | full pool | " + " | ".join(f"100 / {full['recall'][c]:.3f}" for c in classes) + " |")
    lines.append("| | mean leaf-cluster size of the class's records | "
                 + " | ".join(f"{np.mean([leaf_size[s][c] for s in seeds]):.1f}" for c in classes) + " |")
    return lines


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / ".data" / "labelled", help="pool.jsonl and test.jsonl")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=DEFAULT_CONFIGS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--encoder", choices=["static", "minilm", "lsa"], default="static",
                    help="static or minilm: embed {model: ENCODER}; lsa: TF-IDF + SVD vectors fitted on the pool, "
                    "through embed {precomputed: lsa}")
    ap.add_argument("--cache", type=Path, default=HERE / ".data" / "cache", help="thresher's cache_dir "
                    "(the static model and the embeddings)")
    ap.add_argument("--work", type=Path, default=HERE / ".data" / "balanced", help="thresher's run directories")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "balanced.json")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    command = "python bench/balanced.py " + " ".join(argv if argv is not None else sys.argv[1:])
    cache, work = args.cache.resolve(), args.work.resolve()
    pool_path, test_path = args.data / "pool.jsonl", args.data / "test.jsonl"
    for path in (pool_path, test_path):
        if not path.exists():
            raise SystemExit(f"{path} not found: build it with bench/labelled_corpus.py")

    pool = read_jsonl(pool_path)
    label_of = {r["id"]: r["label"] for r in pool}
    counts = {c: sum(1 for r in pool if r["label"] == c) for c in sorted(set(label_of.values()))}
    classes = sorted(counts, key=lambda c: -counts[c])
    small = sorted(counts, key=lambda c: counts[c])[:2]
    if args.encoder != "lsa":
        unlabelled, test_input = work / "pool.jsonl", test_path.resolve()
        runs_dir = work if args.encoder == "static" else work / args.encoder
        write_unlabelled(pool, unlabelled)
        embed, columns = {"model": args.encoder}, ["id", "text"]
    else:
        runs_dir = work / args.encoder
        unlabelled, test_input = lsa_inputs(pool_path, test_path, runs_dir)
        embed, columns = {"precomputed": "lsa"}, ["id", "text", "lsa"]
    del pool

    import pyarrow.compute as pc

    import thresher

    header = [f"# Balanced vs random sampling ({datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z})", "",
              f"command: `{command}`", f"git commit: {git_commit(False)}", f"thresher {thresher.__version__}, "
              f"workers {args.workers}, cache {cache}",
              f"pool: {len(label_of)} records, classes {', '.join(f'{c} {counts[c]}' for c in classes)}; "
              f"smallest two: {' + '.join(small)}",
              f"recipe of each balanced run: input {unlabelled} ({', '.join(columns)}), "
              f"executor {{workers: {args.workers}, "
              f"cache_dir}}, seed: SEED, steps: embed {json.dumps(embed)}; hierarchical_kmeans {{CONFIG}}; "
              "sample_balanced {fraction: BUDGET, strategy: CONFIG}", ""]
    print("\n".join(header), flush=True)

    # test split: embed it, read its vectors
    log("embedding the test split")
    run_recipe(test_input, runs_dir / "test", [{"embed": embed}], workers=args.workers, cache=cache, fresh=False)
    test_table, _ = read_records(runs_dir / "test", ["id", "label", "th_embedding_key"])
    x_test = vectors(cache, test_table.column("th_embedding_key"))
    class_index = {c: i for i, c in enumerate(classes)}
    y_test = np.array([class_index[c] for c in test_table.column("label").to_pylist()])
    evaluate = Evaluator(x_test, y_test, classes)
    small_idx = [class_index[c] for c in small]
    n_classes = len(classes)

    n = len(label_of)
    configs = {name: {**CONFIGS[name], "hkm_resolved": resolved_hkm(CONFIGS[name]["hkm"], n)} for name in args.configs}
    results: dict = {"command": command, "git_commit": git_commit(False), "thresher_version": thresher.__version__,
                     "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                     "seeds": args.seeds, "budgets": args.budgets, "classes": classes, "class_counts": counts,
                     "smallest_classes": small, "entropy_unit": "bits", "configs": {}, "random": {}, "runs": []}

    base_x = base_y = ids = None
    random_fits: dict = {}  # (budget, seed) -> (mask, metrics without leaves)
    per_config: dict[str, dict] = {name: {} for name in configs}
    leaf_sizes: dict[str, dict] = {name: {} for name in configs}
    for seed in args.seeds:
        for name, cfg in configs.items():
            out = runs_dir / tree_name(cfg["hkm_resolved"]) / f"seed{seed}"
            tree = None
            for f in args.budgets:
                steps = [{"embed": embed}, {"hierarchical_kmeans": dict(cfg["hkm_resolved"])},
                         {"sample_balanced": {"fraction": f, "strategy": cfg["strategy"]}}]
                log(f"seed {seed}, {name}, budget {f:.0%}: thresher run in {out}")
                run = run_recipe(unlabelled, out, steps, seed=seed, workers=args.workers, cache=cache, fresh=False)
                recipe, manifest, seconds = run.recipe, run.manifest, run.seconds
                table, kept = read_records(out, ["id", "th_embedding_key", "th_cluster_path"])
                if base_x is None:
                    ids = table.column("id").to_pylist()
                    base_y = np.array([class_index[label_of[i]] for i in ids])
                    base_x = vectors(cache, table.column("th_embedding_key"))
                    log("full pool classifier")
                    full = sample_metrics(np.ones(n, bool), base_y, np.zeros(n, int), small_idx, n_classes, evaluate,
                                          base_x)
                    full["leaves"] = None
                elif table.column("id").to_pylist() != ids:
                    raise SystemExit(f"{out}: the records differ from the first run's")
                if tree is None:
                    paths = table.column("th_cluster_path")
                    depth = len(paths[0])
                    leaf = pc.list_flatten(paths).to_numpy().reshape(n, depth)[:, -1]
                    sizes = np.bincount(leaf)[leaf]
                    tree = {"leaf": leaf, "leaf_clusters": int(np.unique(leaf).size),
                            "leaf_size": {c: float(sizes[base_y == i].mean()) for i, c in enumerate(classes)}}
                    leaf_sizes[name][seed] = tree["leaf_size"]
                step_info = {s["step"]: s.get("info") for s in manifest["steps"]}
                stage_status = {s["stage"]: s["status"] for s in manifest["stages"]}
                stage_seconds = {s["stage"]: round(s["seconds"], 2) for s in manifest["stages"]}
                balanced = sample_metrics(kept, base_y, tree["leaf"], small_idx, n_classes, evaluate, base_x)
                if (f, seed) not in random_fits:
                    rng = np.random.default_rng(seed)
                    mask = np.zeros(n, bool)
                    mask[rng.choice(n, int(kept.sum()), replace=False)] = True
                    fit = sample_metrics(mask, base_y, tree["leaf"], small_idx, n_classes, evaluate, base_x)
                    random_fits[(f, seed)] = (mask, fit)
                    results["random"][f"{f}/{seed}"] = {k: v for k, v in fit.items() if k != "leaves"}
                mask, fit = random_fits[(f, seed)]
                if mask.sum() != kept.sum():
                    raise SystemExit(f"random sample of {mask.sum()} records but balanced kept {kept.sum()}")
                rand = {**fit, "leaves": int(np.unique(tree["leaf"][mask]).size)}
                per_config[name][(f, seed)] = {"balanced": balanced, "random": rand}
                results["runs"].append({"config": name, "seed": seed, "budget": f, "balanced": balanced,
                                        "random_leaves": rand["leaves"], "leaf_clusters": tree["leaf_clusters"],
                                        "mean_leaf_size_by_class": tree["leaf_size"],
                                        "run_dir": str(out), "recipe_steps": recipe["steps"],
                                        "run_seconds": round(seconds, 1), "stage_status": stage_status,
                                        "stage_seconds": stage_seconds,
                                        "hierarchical_kmeans": step_info.get("hierarchical_kmeans"),
                                        "sample_balanced": step_info.get("sample_balanced")})
                log(f"  balanced F1 {balanced['macro_f1']:.4f} worst {balanced['worst_recall']:.4f} | random F1 "
                    f"{rand['macro_f1']:.4f} worst {rand['worst_recall']:.4f} ({seconds:.0f} s)")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")  # after every seed: partial results survive

    pool_row = {"size": n, "entropy_bits": entropy_bits(base_y, n_classes),
                "small_share": 100.0 * float(np.isin(base_y, small_idx).mean())}
    results["full_pool"] = full
    results["pool"] = pool_row
    lines: list[str] = []
    for name, cfg in configs.items():
        hkm = next(r["hierarchical_kmeans"] for r in results["runs"] if r["config"] == name)
        sb = next(r["recipe_steps"][2]["sample_balanced"] for r in results["runs"] if r["config"] == name)
        results["configs"][name] = {"hierarchical_kmeans": cfg["hkm_resolved"], "strategy": cfg["strategy"],
                                    "resolved": {"levels": hkm["levels"], "resample_steps": hkm["resample_steps"]},
                                    "sample_balanced": sb}
        lines += config_table(name, cfg, per_config[name], args.budgets, args.seeds, full, pool_row,
                              name == "default")
        leaves = sorted({r["leaf_clusters"] for r in results["runs"] if r["config"] == name})
        lines += ["", f"resolved: levels {hkm['levels']} (finest first), resample_steps {hkm['resample_steps']}, "
                  f"leaf clusters (non-empty) per seed {', '.join(map(str, leaves))}; "
                  f"sample_balanced {json.dumps({k: v for k, v in sb.items() if k != 'fraction'})}"]
        lines += class_table(per_config[name], args.budgets, args.seeds, classes, counts, leaf_sizes[name], full) + [""]
    lines += ["### Summary: balanced - random, paired by seed (mean ± std; seeds where balanced is higher)", "",
              "| configuration | budget | Δ macro-F1 | verdict | Δ worst-class recall | verdict |",
              "|---|---|---|---|---|---|"]
    for name in configs:
        for f in args.budgets:
            cells = []
            for key in ("macro_f1", "worst_recall"):
                d = [per_config[name][(f, s)]["balanced"][key] - per_config[name][(f, s)]["random"][key]
                     for s in args.seeds]
                cells += [f"{mean_std(d, '{:+.4f}')} ({sum(x > 0 for x in d)}/{len(d)})", verdict(d)]
            label = f"{name} (default)" if name == "default" else name
            lines.append(f"| {label} | {f:.0%} | " + " | ".join(cells) + " |")
    lines.append("")
    total = time.perf_counter() - started
    results["seconds"] = round(total, 1)
    lines += [f"Means ± sample std over seeds {args.seeds}; entropy in bits (max log2 {n_classes} = "
              f"{math.log2(n_classes):.3f}); classifier LogisticRegression(max_iter=2000, C=1) on the "
              f"{args.encoder} embeddings, tested on {len(y_test)} held-out records. \"(pool)\" is the whole pool's "
              f"class distribution. Runtime {total / 60:.1f} min."]
    print("\n".join(lines), flush=True)
    (runs_dir / "table.md").write_text("\n".join(header + lines) + "\n")
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
