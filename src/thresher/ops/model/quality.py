"""``quality_classifier``: learn what good records look like from labelled examples, save the
model to a file, score every record, keep those above a threshold."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..._version import __version__
from ...errors import InputError, NotFoundError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..embed.vectors import EMBEDDING_KEY, vectors_for
from ..registry import register_op
from .proxy import _sklearn, tfidf_features

__all__ = ["QualityClassifier", "SCORE"]

SCORE = "th_quality_score"
_FORMAT = "thresher-quality-classifier/1"


@register_op("quality_classifier")
class QualityClassifier(GlobalOp):
    """A learned quality filter: logistic regression (``target: binary``, the score is the
    probability of the positive class, as in the GPT-3 and LLaMA reference-vs-web
    classifiers) or ridge regression on a 0-5 annotation (``target: score``, as FineWeb-Edu's
    educational-quality classifier, Penedo et al. 2024, which keeps records scoring >= 3), on
    the embed step's vectors or on TF-IDF of the text.

    With ``label`` set it trains on the records whose label is not null (binary labels: true/1
    = positive), scores those records out-of-fold (``folds``) so that no record is scored by a
    model that saw it, scores the others with the model trained on all of them, and saves that
    model to ``model``. Without ``label`` it loads ``model`` and applies it. Every record gets
    ``th_quality_score``; with ``keep_above``, records scoring below it go to removed/.
    ``thresher quality train|apply`` runs the same from the command line.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> import tempfile
    >>> from thresher.ops.embed.embed import Embed
    >>> model = tempfile.mkdtemp() + "/quality.pkl"
    >>> vectors = [[1.0, 0.1 * i] for i in range(6)] + [[0.1 * i, 1.0] for i in range(6)]
    >>> rows = [{"id": f"r{i:02d}", "text": "", "vec": v, "good": i < 6} for i, v in enumerate(vectors)]
    >>> t = try_op([Embed(precomputed="vec"), QualityClassifier(model=model, label="good", folds=2)], rows)
    >>> scores = t.column("th_quality_score")  # trained, saved, and each record scored (cross-fitted)
    >>> min(scores[:6]) > 0.5 > max(scores[6:])
    True
    >>> new = [{"id": "x", "text": "", "vec": [0.9, 0.0]}, {"id": "y", "text": "", "vec": [0.0, 0.9]}]
    >>> t = try_op([Embed(precomputed="vec"), QualityClassifier(model=model, keep_above=0.5)], new)  # applied
    >>> t.kept, t.removed["y"].split(":")[0]
    (['x'], 'low quality score')
    """

    annotates = True
    writes = (SCORE,)
    thresholds = {SCORE: ("keep_above",)}
    params = {
        "model": Param(str, None, "the model file, relative to the recipe: written when training, read when "
                       "applying", extra={"path": True}),
        "label": Param(str, None, "train from this column (null: apply the saved model)", nullable=True),
        "target": Param(str, "binary", "binary labels (logistic regression) or a numeric score (ridge)",
                        choices=("binary", "score")),
        "features": Param(str, "embedding", "the embed step's vectors, or TF-IDF of the text",
                          choices=("embedding", "tfidf")),
        "keep_above": Param(float, None, "remove records whose score is below this", nullable=True),
        "folds": Param(int, 5, "cross-fitting folds for the training records' own scores", low=2),
        "c": Param(float, 10.0, "inverse regularization (TF-IDF and embeddings are unit vectors: 1 is too strong)",
                   low=0, low_open=True),
    }

    def validate(self) -> None:
        if not self.model:
            raise RecipeError(f"{self.name}.model is required: the file the classifier is saved to or read from.")

    def input_files(self) -> list[Path]:
        """The saved model when applying one: replacing it recomputes the step."""
        return [Path(self.model)] if self.label is None and Path(self.model).is_file() else []

    def holds(self) -> str:
        return "id, label and features per record"

    def key_columns(self) -> list[str]:
        return ["id"] + ([self.label] if self.label else []) + \
            ([EMBEDDING_KEY] if self.features == "embedding" else ["text"])

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        names = batch.schema.names
        cols = {"id": batch.column("id")}
        if self.label:
            if self.label not in names:
                raise InputError(f"{self.name}.label: no column {self.label!r}; columns: {names}")
            values = batch.column(self.label)
            if not (pa.types.is_boolean(values.type) or pa.types.is_integer(values.type)
                    or pa.types.is_floating(values.type) or pa.types.is_null(values.type)):
                raise InputError(f"{self.name}.label: column {self.label!r} must be boolean or numeric, got "
                                 f"{values.type}.")
            cols["label"] = pc.cast(values, pa.float64())
        if self.features == "embedding":
            if EMBEDDING_KEY not in names:
                raise InputError(f"{self.name} uses embeddings, but the records have no {EMBEDDING_KEY} column: add an "
                                 "`- embed: {}` step before it, or set features: tfidf.")
            cols[EMBEDDING_KEY] = batch.column(EMBEDDING_KEY)
        else:
            cols["text"] = batch.column("text")
        return pa.table(cols)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        x = self._features(table, ctx) if table.num_rows else None
        score = np.zeros(table.num_rows)
        if self.label and table.num_rows:
            score = self._train(table, x, ctx)
        elif table.num_rows:
            model = self._load()
            score = _predict(model["estimator"], self.target if "target" not in model else model["target"], x)
        reasons = [None] * table.num_rows
        if self.keep_above is not None:
            low = np.flatnonzero(score < self.keep_above)
            for i in low.tolist():
                reasons[i] = reason("low quality score", f"{score[i]:.3f} < {self.keep_above:g}")
            ctx.info["removed"] = int(len(low))
        return pa.table({"id": table.column("id"), "reason": pa.array(reasons, pa.string()),
                         SCORE: pa.array(score.astype(np.float32))})

    def _features(self, table: pa.Table, ctx: OpContext):
        if self.features == "embedding":
            return vectors_for(ctx, table.column(EMBEDDING_KEY))
        return tfidf_features(table.column("text").to_pylist())

    def _train(self, table: pa.Table, x, ctx: OpContext) -> np.ndarray:
        _sklearn()
        from sklearn.model_selection import KFold, StratifiedKFold

        y = table.column("label").to_numpy(zero_copy_only=False) if table.num_rows else np.zeros(0)
        rows = np.flatnonzero(~np.isnan(y))
        if self.target == "binary":
            bad = sorted(set(y[rows].tolist()) - {0.0, 1.0})
            if bad:
                raise InputError(f"{self.name}.label: binary labels must be true/false or 1/0, found {bad[:5]}.")
            if len(set(y[rows].tolist())) < 2:
                raise InputError(f"{self.name}.label: training needs positive and negative examples; found only "
                                 f"{sorted(set(y[rows].tolist()))} in {len(rows)} labelled records.")
        elif len(rows) < 2:
            raise InputError(f"{self.name}.label: training needs at least 2 labelled records, found {len(rows)}.")
        score = np.zeros(len(y))
        k = min(self.folds, len(rows))
        folds = StratifiedKFold(k, shuffle=True, random_state=ctx.seed) if self.target == "binary" and \
            np.bincount(y[rows].astype(int)).min() >= k else KFold(k, shuffle=True, random_state=ctx.seed)
        for train, test in folds.split(np.zeros(len(rows)), y[rows]):
            est = self._estimator(ctx.seed).fit(x[rows[train]], y[rows[train]])
            score[rows[test]] = _predict(est, self.target, x[rows[test]])
        heldout = _quality(self.target, y[rows], score[rows])
        final = self._estimator(ctx.seed).fit(x[rows], y[rows])
        rest = np.flatnonzero(np.isnan(y))
        if len(rest):
            score[rest] = _predict(final, self.target, x[rest])
        path = Path(self.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"format": _FORMAT, "thresher": __version__, "target": self.target,
                         "features": self.features, "estimator": final, "trained_on": int(len(rows)),
                         "heldout": heldout}, f)
        tmp.replace(path)
        ctx.info.update({"trained_on": int(len(rows)), "model": str(path), **heldout})
        return score

    def _estimator(self, seed: int):
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.target == "binary":
            return LogisticRegression(C=self.c, max_iter=2000, random_state=seed)
        return Ridge(alpha=1.0 / self.c)

    def _load(self) -> dict:
        path = Path(self.model)
        if not path.exists():
            raise NotFoundError(f"{self.name}.model: {path} does not exist; train it first (set label, or run "
                                "`thresher quality train`).")
        with open(path, "rb") as f:  # a model file is code: load only files you made
            model = pickle.load(f)
        if not isinstance(model, dict) or model.get("format") != _FORMAT:
            raise InputError(f"{self.name}.model: {path} is not a thresher quality classifier.")
        if model["features"] != self.features:
            raise RecipeError(f"{self.name}.features is {self.features!r} but {path} was trained on "
                              f"{model['features']!r}.")
        return model


def _predict(estimator, target: str, x) -> np.ndarray:
    if target == "binary":
        return estimator.predict_proba(x)[:, list(estimator.classes_).index(1.0)]
    return estimator.predict(x)


def _quality(target: str, y: np.ndarray, score: np.ndarray) -> dict:
    """Held-out accuracy (binary, at 0.5) or mean absolute error and accuracy of the rounded
    score (0-5 scores, as FineWeb-Edu reports)."""
    if target == "binary":
        return {"heldout_accuracy": round(float(((score >= 0.5) == (y == 1)).mean()), 4)}
    return {"heldout_mae": round(float(np.abs(score - y).mean()), 4),
            "heldout_rounded_accuracy": round(float((np.clip(np.round(score), y.min(), y.max()) == y).mean()), 4)}
