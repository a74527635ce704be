"""Did curation help? Train the same proxy model on the curated set, on uniform random subsets
of the input of the same size (several seeds) and on the whole input, and score each on one
held-out labelled test set: accuracy, macro-F1 and worst-class recall.

This is the proxy-model evaluation of DataComp (Gadre et al. 2023) and of the data-pruning
literature (Sorscher et al. 2022) shrunk to a linear probe that runs in seconds on a laptop:
logistic regression on sentence embeddings (or on hashed TF-IDF). A curated set "helped" when
it beats the random subsets' mean macro-F1 by more than twice their spread.

Every input record is in the run's output (kept or removed), so the output directory alone
holds the three training pools. The test set is a file with the same label column, or a
seeded split of the input (``split``) that no training pool sees; ``test_scope: kept`` scores
only on held-out records the curation kept, i.e. on the distribution it curated toward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from .errors import InputError, NotFoundError, RecipeError
from .params import Param, validate_params
from .paths import default_cache_dir

__all__ = ["EVAL_PARAMS", "EvalConfig", "evaluate", "eval_line", "eval_table", "memory_bytes"]

EVAL_PARAMS = {
    "label": Param(str, None, "the label column of the task"),
    "test": Param(str, None, "a held-out test file with the same label column, relative to the recipe "
                  "(default: a seeded split of the input)", nullable=True, extra={"path": True}),
    "split": Param(float, 0.2, "share of the input held out as the test set when no test file is given",
                   low=0.01, high=0.9),
    "test_scope": Param(str, "input", "with a split: score on every held-out record, or only on held-out "
                        "records the curation kept", choices=("input", "kept")),
    "features": Param(str, "embedding", "sentence embeddings or hashed TF-IDF of the text",
                      choices=("embedding", "tfidf")),
    "model": Param(str, "minilm", "the encoder for features: embedding (minilm, static, or a local "
                   "sentence-transformers directory)"),
    "seeds": Param(int, 5, "random subsets of the curated set's size, one per seed", low=1, high=100),
    "c": Param(float, 1.0, "inverse L2 regularization of the logistic regression", low=1e-6),
}

METRICS = ("accuracy", "macro_f1", "worst_class_recall")


@dataclass(frozen=True)
class EvalConfig:
    label: str
    test: str | None = None
    split: float = 0.2
    test_scope: str = "input"
    features: str = "embedding"
    model: str = "minilm"
    seeds: int = 5
    c: float = 1.0

    @classmethod
    def from_dict(cls, given: dict, base_dir: Path | None = None) -> "EvalConfig":
        values = validate_params("eval", EVAL_PARAMS, given)
        if values["label"] is None:
            raise RecipeError("eval.label is required: the column holding each record's class.")
        if values["test"] is not None and base_dir is not None:
            values["test"] = str((Path(base_dir) / values["test"]).resolve())
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def memory_bytes(cfg: EvalConfig, records: int, record_bytes: float) -> int:
    """Estimated memory of the probe (``thresher plan``), in the main process once the workers
    are gone: scikit-learn (120 MiB), the records' texts and labels, and the features. TF-IDF
    (its sparse matrix, the training pools' copies, SAGA's state) took 410 MiB with scikit-learn
    on the bundled sample (11,206 records, 12 MB as estimated by the planner): 32 bytes per
    estimated input byte cover it. Embeddings: the encoder (not measured: a bound) and three
    float32 copies of the vectors."""
    raw = records * record_bytes
    if cfg.features == "tfidf":
        return int(120 * 2**20 + 32 * raw)
    encoder = {"static": 200, "minilm": 600}.get(cfg.model, 1000) * 2**20
    return int(120 * 2**20 + encoder + 2 * raw + 3 * records * 384 * 4)


# --- data -------------------------------------------------------------------------------------

def _labelled(table: pa.Table, label: str, where: str) -> pa.Table:
    """``id``, ``text`` and ``label`` (as strings) of ``table``, or an error naming ``where``."""
    if label not in table.column_names:
        raise InputError(f"eval.label: {where} has no column {label!r}; columns: {table.column_names}")
    return pa.table({"id": pc.cast(table.column("id"), pa.string()), "text": pc.cast(table.column("text"), pa.string()),
                     "label": pc.cast(table.column(label), pa.string())})


def _output_records(out: Path, label: str) -> tuple[pa.Table, np.ndarray]:
    """Every input record of a run (``id``, ``text``, ``label``) and whether it was kept."""
    from .io.output import output_columns, output_parts, read_output_file

    if not (Path(out) / "kept").is_dir():
        raise NotFoundError(f"{out} has no kept/ directory: is it the output directory of a finished run?")
    tables, kept_rows = [], 0
    for where in ("kept", "removed"):
        for path in output_parts(out, where):
            names = [n for n in ("id", "text", label) if n in output_columns(path)]
            tables.append(_labelled(read_output_file(path, names), label, f"output file {path}"))
            kept_rows += tables[-1].num_rows if where == "kept" else 0
    if not tables:
        raise InputError(f"eval: {out} holds no output records.")
    table = pa.concat_tables(tables)
    kept = np.arange(table.num_rows) < kept_rows
    order = pc.sort_indices(table, [("id", "ascending")]).to_numpy()  # the same whatever the sharding
    return table.take(order), kept[order]


def _test_file(path: str, label: str) -> pa.Table:
    from .io.readers import ReadOptions, read_batches

    file = Path(path)
    if not file.exists():
        raise NotFoundError(f"eval.test: the test file {file} does not exist.")
    batches = [b for b, _ in read_batches(file, file.name, ReadOptions()) if b is not None]
    return _labelled(pa.Table.from_batches(batches), label, f"test file {file}")


def _held_out(ids: list[str], share: float, seed: int) -> np.ndarray:
    """A seeded, id-hashed split: the same records whatever the order or sharding."""
    cut = int(share * 2**64)
    return np.fromiter((xxhash.xxh3_64_intdigest(i.encode("utf-8", "surrogatepass"), seed) < cut for i in ids),
                       bool, len(ids))


# --- the probe --------------------------------------------------------------------------------

def _features(texts: list[str], cfg: EvalConfig, cache_dir: Path):
    if cfg.features == "tfidf":
        from .ops.model.proxy import tfidf_features

        return tfidf_features(texts)
    from .ops.embed.embed import embed_texts

    return embed_texts(texts, cfg.model, cache_dir)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict:
    """Accuracy, macro-F1 and worst-class recall over the classes of the test set."""
    recalls, f1s = [], []
    for c in classes:
        true, pred = y_true == c, y_pred == c
        tp = int((true & pred).sum())
        recall = tp / true.sum()
        precision = tp / pred.sum() if pred.any() else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    worst = int(np.argmin(recalls))
    return {"accuracy": float((y_true == y_pred).mean()), "macro_f1": float(np.mean(f1s)),
            "worst_class_recall": float(recalls[worst]), "worst_class": str(classes[worst])}


def _fit_score(x_train, y_train: np.ndarray, x_test, y_test: np.ndarray, classes: np.ndarray,
               cfg: EvalConfig, seed: int) -> dict:
    from scipy.sparse import issparse
    from sklearn.linear_model import LogisticRegression

    from .ops.model.proxy import _one_blas_thread

    if len(np.unique(y_train)) < 2:
        pred = np.full(len(y_test), y_train[0] if len(y_train) else "", dtype=object)
    else:
        # SAGA on sparse TF-IDF: 20x faster than L-BFGS there (measured, 2^18 columns x 16
        # classes), same accuracy; seeded, so deterministic.
        solver = {"solver": "saga", "tol": 1e-3} if issparse(x_train) else {}
        model = LogisticRegression(C=cfg.c, max_iter=1000, random_state=seed, **solver)
        with _one_blas_thread():
            pred = model.fit(x_train, y_train).predict(x_test)
    return {"records": int(len(y_train)), **_scores(y_test, np.asarray(pred), classes)}


def evaluate(out: Path, cfg: EvalConfig, seed: int = 0, cache_dir: Path | None = None) -> dict:
    """Train on curated, random same-size subsets and the full input; score on the test set."""
    from .ops.model.proxy import _sklearn

    _sklearn()
    table, kept = _output_records(Path(out), cfg.label)
    labelled = pc.is_valid(table.column("label")).to_numpy(zero_copy_only=False)
    ids = table.column("id").to_pylist()
    if cfg.test:
        test = _test_file(cfg.test, cfg.label)
        test = test.filter(pc.is_valid(test.column("label")))
        pool = labelled
        described = f"file {Path(cfg.test).name}"
    else:
        held = _held_out(ids, cfg.split, seed)
        pool = labelled & ~held
        scope = held & labelled & (kept if cfg.test_scope == "kept" else True)
        test = table.filter(pa.array(scope))
        described = f"{cfg.split:.0%} of the input held out" + (", kept records only" if cfg.test_scope == "kept"
                                                                else "")
    if test.num_rows == 0:
        raise InputError(f"eval: the test set ({described}) holds no record with a {cfg.label!r} label.")
    curated = np.flatnonzero(pool & kept)
    full = np.flatnonzero(pool)
    if curated.size == 0:
        raise InputError(f"eval: no kept record outside the test set has a {cfg.label!r} label.")

    texts = table.column("text").to_pylist()
    x_all = _features(texts + test.column("text").to_pylist(), cfg, cache_dir or default_cache_dir())
    x_pool, x_test = x_all[:len(texts)], x_all[len(texts):]
    y_pool = np.asarray(table.column("label").to_pylist(), dtype=object)
    y_test = np.asarray(test.column("label").to_pylist(), dtype=object)
    classes = np.unique(y_test)

    def arm(rows: np.ndarray, s: int) -> dict:
        return _fit_score(x_pool[rows], y_pool[rows], x_test, y_test, classes, cfg, s)

    rng = np.random.default_rng(seed)
    randoms = [arm(np.sort(rng.choice(full, size=curated.size, replace=False)), seed + s) for s in range(cfg.seeds)]
    result = {
        "config": cfg.to_dict(), "seed": seed, "test": {"source": described, "records": int(test.num_rows),
                                                         "classes": int(len(classes))},
        "unlabelled": int((~labelled).sum()),
        "curated": arm(curated, seed),
        "random": {m: {"mean": float(np.mean([r[m] for r in randoms])), "std": float(np.std([r[m] for r in randoms]))}
                   for m in METRICS} | {"records": int(curated.size), "seeds": cfg.seeds},
        "full": arm(full, seed),
    }
    result.update(_verdict(result))
    return result


def _verdict(result: dict, metric: str = "macro_f1") -> dict:
    mean, std = result["random"][metric]["mean"], result["random"][metric]["std"]
    margin = result["curated"][metric] - mean
    helped = margin > 2 * std and margin > 0
    return {"metric": metric, "margin": margin, "helped": bool(helped),
            "verdict": "curation helped" if helped else "curation did not help"}


def eval_line(result: dict) -> str:
    """One line: the verdict, its margin, and the numbers behind it."""
    r, c = result["random"], result["curated"]
    return (f"eval: {result['verdict']}: macro-F1 {c['macro_f1']:.3f} on the curated set vs "
            f"{r['macro_f1']['mean']:.3f} ± {r['macro_f1']['std']:.3f} on {r['seeds']} random subsets of the same "
            f"size ({result['margin']:+.3f}); full input {result['full']['macro_f1']:.3f} "
            f"({result['test']['records']:,} test records, {result['test']['source']})")


def eval_table(result: dict) -> list[tuple[str, str, str, str, str]]:
    """Rows ``(training set, records, accuracy, macro-F1, worst-class recall)``, formatted."""
    def fmt(arm: dict) -> tuple[str, str, str]:
        return tuple(f"{arm[m]:.3f}" for m in METRICS)

    r = result["random"]
    rand = tuple(f"{r[m]['mean']:.3f} ± {r[m]['std']:.3f}" for m in METRICS)
    return [("curated", f"{result['curated']['records']:,}", *fmt(result["curated"])),
            (f"random, same size ({r['seeds']} seeds)", f"{r['records']:,}", *rand),
            ("full input", f"{result['full']['records']:,}", *fmt(result["full"]))]
