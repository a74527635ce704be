"""What the model-aware ops share: where predictions come from (the user's ``probs`` or
``logits`` column, or the cross-fitted proxy), the label column and the class list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import KeyParts, OpContext
from ..columns import float_matrix
from ..embed.vectors import EMBEDDING_KEY, vectors_for
from .proxy import cross_fit, fit_predict, tfidf_features

__all__ = ["MODEL_PARAMS", "Predictions", "model_key_columns", "model_keys", "predictions", "softmax",
           "check_model_params", "label_indices"]

MODEL_PARAMS = {
    "label": Param(str, "label", "the given label column (null values: unlabelled records)", nullable=True),
    "probs": Param(str, None, "a list column of predicted class probabilities (your model's)", nullable=True),
    "logits": Param(str, None, "a list column of logits (your model's)", nullable=True),
    "classes": Param(list, None, "class names in the order of the probs/logits entries (default: the sorted "
                     "labels)", item=str, nullable=True),
    "features": Param(str, "embedding", "the proxy model's features when no probs/logits are given: "
                      "the embed step's vectors, or TF-IDF of the text", choices=("embedding", "tfidf")),
    "folds": Param(int, 5, "cross-fitting folds of the proxy model", low=2),
    "c": Param(float, 1.0, "inverse regularization of the proxy's logistic regression", low=0, low_open=True),
}


def check_model_params(op) -> None:
    if op.probs is not None and op.logits is not None:
        raise RecipeError(f"{op.name}: give probs or logits, not both.")


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def model_key_columns(op, need_label: bool = True) -> list[str]:
    cols = ["id"] + ([op.label] if op.label else [])
    if op.probs or op.logits:
        return cols + [op.probs or op.logits]
    return cols + ([EMBEDDING_KEY] if op.features == "embedding" else ["text"])


def model_keys(op, batch: pa.RecordBatch, *, require_label: bool = False) -> pa.Table:
    """The columns the op needs, checked: the label as strings, the predictions or features."""
    if require_label and not op.label:
        raise InputError(f"{op.name}.label: a label column is required.")
    names = batch.schema.names
    cols = {"id": batch.column("id")}
    if op.label:
        if op.label not in names:
            raise InputError(f"{op.name}.label: no column {op.label!r}; columns: {names}")
        cols["label"] = pc.cast(batch.column(op.label), pa.string())
    source = op.probs or op.logits
    if source:
        if source not in names:
            which = "probs" if op.probs else "logits"
            raise InputError(f"{op.name}.{which}: no column {source!r}; columns: {names}")
        cols["scores"] = batch.column(source)
    elif op.features == "embedding":
        if EMBEDDING_KEY not in names:
            raise InputError(f"{op.name} trains its proxy model on embeddings, but the records have no "
                             f"{EMBEDDING_KEY} column: add an `- embed: {{}}` step before it, or set features: tfidf, "
                             "or give your model's probs or logits column.")
        cols[EMBEDDING_KEY] = batch.column(EMBEDDING_KEY)
    else:
        cols["text"] = batch.column("text")
    return pa.table(cols)


@dataclass
class Predictions:
    """Per record (sorted by id): the label index (-1: none), class probabilities and logits
    (None when only probabilities were given), where they came from, the proxy's accuracy."""

    ids: pa.Array
    labels: np.ndarray
    classes: list[str]
    probs: np.ndarray
    logits: np.ndarray | None
    source: str
    accuracy: float | None = None

    def info(self) -> dict:
        out = {"predictions": self.source, "classes": len(self.classes),
               "labelled": int((self.labels >= 0).sum())}
        if self.accuracy is not None:
            out["proxy_heldout_accuracy"] = round(self.accuracy, 4)
        return out


def _classes(op, labels: pa.ChunkedArray) -> list[str]:
    if op.classes is not None:
        return list(op.classes)
    values = [v for v in pc.unique(labels).to_pylist() if v is not None]
    try:
        return sorted(values, key=lambda v: (0, float(v), v))  # numeric labels in numeric order
    except ValueError:
        return sorted(values)


def label_indices(op, table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Each record's class index (-1: no label) and the class list, checked."""
    if "label" not in table.column_names:
        return np.full(table.num_rows, -1, np.int64), list(op.classes or [])
    classes = _classes(op, table.column("label"))
    index = {c: i for i, c in enumerate(classes)}
    raw = table.column("label").to_pylist()
    unknown = sorted({v for v in raw if v is not None and v not in index})
    if unknown:
        raise InputError(f"{op.name}.label: labels outside the classes: {unknown[:5]} (classes: {classes[:20]}).")
    return np.array([index[v] if v is not None else -1 for v in raw], np.int64), classes


def predictions(op, keys: KeyParts | pa.Table, ctx: OpContext) -> Predictions:
    table = KeyParts.of(keys).read_by_id()
    ids = table.column("id").combine_chunks()
    labels, classes = label_indices(op, table)
    if not table.num_rows:
        return Predictions(ids, labels, classes, np.zeros((0, len(classes))), None, "none (no records)")
    if "scores" in table.column_names:
        return _given(op, table, ids, labels, classes)
    return _proxy(op, table, ids, labels, classes, ctx)


def _given(op, table: pa.Table, ids, labels, classes) -> Predictions:
    which = "probs" if op.probs else "logits"
    m = float_matrix(table.column("scores"), f"{op.name}.{which}: column {op.probs or op.logits!r}")
    if classes and m.shape[1] != len(classes):
        raise InputError(f"{op.name}.{which}: rows have {m.shape[1]} entries but there are {len(classes)} classes "
                         f"{classes[:10]}; give `classes` in the order of the entries.")
    if not classes:
        classes = [str(i) for i in range(m.shape[1])]
    if op.probs:
        bad = np.flatnonzero((np.abs(m.sum(axis=1) - 1) > 1e-3) | (m < 0).any(axis=1) | (m > 1).any(axis=1))
        if len(bad):
            raise InputError(f"{op.name}.probs: record {ids[int(bad[0])].as_py()!r} has probabilities "
                             f"{np.round(m[bad[0]], 4).tolist()[:10]} that do not sum to 1 ({len(bad)} such records); "
                             "pass logits instead, or normalize them.")
        return Predictions(ids, labels, classes, m, None, "column " + op.probs)
    return Predictions(ids, labels, classes, softmax(m), m, "column " + op.logits)


def _proxy(op, table: pa.Table, ids, labels, classes, ctx: OpContext) -> Predictions:
    labelled = labels >= 0
    if len(classes) < 2 or labelled.sum() < 2:
        raise InputError(f"{op.name}: the proxy model needs labelled records of at least 2 classes in column "
                         f"{op.label!r}; found {int(labelled.sum())} labelled records of {len(classes)} classes.")
    if op.features == "embedding":
        x = vectors_for(ctx, table.column(EMBEDDING_KEY))
    else:
        x = tfidf_features(table.column("text").to_pylist())
    k = len(classes)
    probs, logits = np.zeros((len(labels), k)), np.zeros((len(labels), k))
    rows = np.flatnonzero(labelled)
    p, z, accuracy = cross_fit(x[rows], labels[rows], k, folds=op.folds, seed=ctx.seed, c=op.c)
    probs[rows], logits[rows] = p, z
    rest = np.flatnonzero(~labelled)
    if len(rest):
        probs[rest], logits[rest] = fit_predict(x[rows], labels[rows], x[rest], k, seed=ctx.seed, c=op.c)
    return Predictions(ids, labels, classes, probs, logits, f"proxy (logistic regression on {op.features})",
                       accuracy)
