"""``ood_score``: out-of-distribution and uncertainty scores from a classifier's outputs and from
nearest neighbours in embedding space."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..embed.vectors import EMBEDDING_KEY, embedding_keys, vectors_for
from ..registry import register_op
from .inputs import MODEL_PARAMS, check_model_params, model_key_columns, model_keys, predictions

__all__ = ["OodScore", "ood_scores", "knn_distance", "SCORES"]

PREDICTED = "th_predicted_label"
SCORES = ("msp", "max_logit", "energy", "entropy", "margin", "knn")
_NEEDS_LOGITS = ("max_logit", "energy")


def ood_scores(probs: np.ndarray, logits: np.ndarray | None, names, temperature: float = 1.0) -> dict:
    """Scores oriented so that higher means more out-of-distribution (or more uncertain):

    - ``msp``: 1 - the maximum softmax probability (Hendrycks & Gimpel 2017);
    - ``max_logit``: minus the maximum logit (Hendrycks et al. 2022);
    - ``energy``: ``-T * logsumexp(logits / T)`` (Liu et al. 2020);
    - ``entropy``: ``-sum p log p`` of the predicted distribution;
    - ``margin``: 1 - (top-1 minus top-2 probability).

    >>> p = np.array([[.7, .2, .1], [.4, .35, .25]])
    >>> s = ood_scores(p, np.log(p), ["msp", "margin", "entropy"])
    >>> s["msp"].round(2).tolist(), s["margin"].round(2).tolist(), bool(s["entropy"][1] > s["entropy"][0])
    ([0.3, 0.6], [0.5, 0.95], True)
    """
    if not len(probs) or not probs.shape[1]:
        return {name: np.zeros(len(probs)) for name in names}
    out = {}
    top2 = np.sort(probs, axis=1)[:, -2:] if probs.shape[1] >= 2 else np.c_[np.zeros(len(probs)), probs]
    for name in names:
        if name == "msp":
            out[name] = 1 - probs.max(axis=1)
        elif name == "margin":
            out[name] = 1 - (top2[:, 1] - top2[:, 0])
        elif name == "entropy":
            out[name] = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1)
        elif name == "max_logit":
            out[name] = -logits.max(axis=1)
        elif name == "energy":
            z = logits / temperature
            m = z.max(axis=1)
            out[name] = -temperature * (m + np.log(np.exp(z - m[:, None]).sum(axis=1)))
    return out


def knn_distance(x: np.ndarray, reference: np.ndarray, k: int, self_in_reference: np.ndarray) -> np.ndarray:
    """The Euclidean distance of each unit row of ``x`` to its k-th nearest neighbour among the
    unit rows of ``reference`` (Sun et al. 2022, "Out-of-Distribution Detection with Deep
    Nearest Neighbors"); a row that is itself in the reference does not count as its own
    neighbour (``self_in_reference``)."""
    import faiss

    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    kk = min(k + 1, len(reference))
    sims, _ = index.search(np.ascontiguousarray(x, dtype=np.float32), kk)
    kth = np.where(self_in_reference, sims[:, min(k, kk - 1)], sims[:, min(k - 1, kk - 1)])
    return np.sqrt(np.maximum(2 - 2 * kth, 0.0))


@register_op("ood_score")
class OodScore(GlobalOp):
    """Out-of-distribution and uncertainty scores, one ``th_ood_<score>`` column each, higher
    meaning more out-of-distribution: ``msp`` (Hendrycks & Gimpel 2017), ``max_logit``
    (Hendrycks et al. 2022), ``energy`` (Liu et al. 2020, with ``temperature``), ``entropy``,
    ``margin`` (1 - top-1 + top-2), from your model's ``probs``/``logits`` columns or the
    cross-fitted proxy; and ``knn``, the distance to the ``knn_k``-th nearest labelled record in
    embedding space (Sun et al. 2022; all records when there are no labels). ``scores`` lists
    which (default: all that the inputs allow: the logit scores need logits, knn needs an embed
    step). ``th_predicted_label`` holds the model's top class. Optionally remove the records
    above ``remove_above`` or the top ``remove_fraction`` by ``remove_by``.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1 * i] for i in range(5)] + [[0.1 * i, 1.0] for i in range(5)] + [[-1.0, -1.0]]
    >>> labels = ["cat"] * 5 + ["dog"] * 5 + [None]  # r10: unlabelled
    >>> rows = [{"id": f"r{i:02d}", "text": "", "vec": v, "label": labels[i]} for i, v in enumerate(vectors)]
    >>> op = OodScore(folds=3, knn_k=2, remove_by="knn", remove_fraction=0.1)
    >>> t = try_op([Embed(precomputed="vec"), op], rows)  # r10 is far from every labelled record
    >>> t.removed, t.column("th_predicted_label")[:6]
    ({'r10': 'ood knn: 1.848 in the top 10.0%'}, ['cat', 'cat', 'cat', 'cat', 'cat', 'dog'])
    """

    annotates = True
    writes = tuple(f"th_ood_{s}" for s in SCORES) + (PREDICTED,)
    thresholds = {f"th_ood_{s}": () for s in SCORES}
    params = {
        **MODEL_PARAMS,
        "scores": Param(list, None, f"which scores, of {', '.join(SCORES)} (default: all the inputs allow)",
                        item=str, nullable=True),
        "temperature": Param(float, 1.0, "energy score temperature", low=0, low_open=True),
        "knn_k": Param(int, 50, "the neighbour whose distance is the knn score", low=1),
        "remove_by": Param(str, None, "the score that removes records (with remove_above or remove_fraction)",
                           choices=SCORES, nullable=True),
        "remove_above": Param(float, None, "remove records whose score is above this", nullable=True),
        "remove_fraction": Param(float, None, "remove this fraction of records, the highest scores", low=0,
                                 high=1, nullable=True),
    }

    def validate(self) -> None:
        check_model_params(self)
        unknown = [s for s in self.scores or [] if s not in SCORES]
        if unknown:
            raise RecipeError(f"{self.name}.scores: unknown {unknown}; choose from {list(SCORES)}.")
        limits = (self.remove_above is not None) + (self.remove_fraction is not None)
        if (self.remove_by is None and limits) or (self.remove_by is not None and limits != 1):
            raise RecipeError(f"{self.name}: removing needs remove_by and exactly one of remove_above or "
                              "remove_fraction.")
        if self.remove_by and self.scores is not None and self.remove_by not in self.scores:
            raise RecipeError(f"{self.name}.remove_by {self.remove_by!r} is not among scores {self.scores}.")
        if self.probs and any(s in _NEEDS_LOGITS for s in self.scores or []):
            raise RecipeError(f"{self.name}: {[s for s in self.scores if s in _NEEDS_LOGITS]} need logits; "
                              "give a logits column (probabilities lose the logits' scale).")

    def threshold_values(self) -> dict[str, list[float]]:
        values = super().threshold_values()
        if self.remove_above is not None:
            values[f"th_ood_{self.remove_by}"] = [self.remove_above]
        return values

    def holds(self) -> str:
        return "id, label, predictions (or features) and the embedding per record"

    def _wants_model(self) -> bool:
        return self.scores is None or any(s != "knn" for s in self.scores)

    def needs(self) -> dict[str, str | None]:
        cols = model_key_columns(self) if self._wants_model() else ([self.label] if self.label else [])
        return self.columns_named(cols + ([EMBEDDING_KEY] if self.scores and "knn" in self.scores else []))

    def key_columns(self) -> list[str]:
        cols = model_key_columns(self) if self._wants_model() else ["id"] + ([self.label] if self.label else [])
        return list(dict.fromkeys(cols + [EMBEDDING_KEY]))

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        table = model_keys(self, batch) if self._wants_model() else pa.table({"id": batch.column("id")})
        if EMBEDDING_KEY not in table.column_names:
            if EMBEDDING_KEY in batch.schema.names:
                table = table.append_column(EMBEDDING_KEY, batch.column(EMBEDDING_KEY))
            elif self.scores and "knn" in self.scores:
                embedding_keys(batch, f"{self.name} (knn)")
        if "label" not in table.column_names and self.label and self.label in batch.schema.names:
            table = table.append_column("label", batch.column(self.label).cast(pa.string()))
        return table

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        names = self._names(table)
        pred = predictions(self, table, ctx) if any(s != "knn" for s in names) else None
        ordered = table
        scores = ood_scores(pred.probs, pred.logits, [s for s in names if s != "knn"], self.temperature) \
            if pred is not None else {}
        if "knn" in names and ordered.num_rows:
            scores["knn"] = self._knn(ordered, ctx)
        elif "knn" in names:
            scores["knn"] = np.zeros(0)
        ids = ordered.column("id").combine_chunks()
        ctx.info.update({**(pred.info() if pred is not None else {}), "scores": names})
        reasons = self._removals(scores, len(ids), ctx)
        columns = {"id": ids, "reason": pa.array(reasons, pa.string())}
        columns.update({f"th_ood_{s}": pa.array(np.asarray(scores[s], np.float32)) for s in names})
        if pred is not None:
            top = pred.probs.argmax(axis=1) if len(pred.probs) else np.zeros(0, int)
            columns[PREDICTED] = pa.array([pred.classes[i] for i in top.tolist()], pa.string())
        return pa.table(columns)

    def _names(self, table: pa.Table) -> list[str]:
        if self.scores is not None:
            return list(self.scores)
        names = ["msp", "entropy", "margin"]
        if not self.probs:
            names = ["msp", "max_logit", "energy", "entropy", "margin"]
        if EMBEDDING_KEY in table.column_names:
            names.append("knn")
        return names

    def _knn(self, table: pa.Table, ctx: OpContext) -> np.ndarray:
        x = vectors_for(ctx, table.column(EMBEDDING_KEY))
        if "label" in table.column_names and table.column("label").null_count < table.num_rows:
            ref = np.asarray(table.column("label").is_valid().to_numpy(zero_copy_only=False), bool)
        else:
            ref = np.ones(len(x), bool)
        if ref.sum() < 2:
            raise InputError(f"{self.name}: the knn score needs at least 2 reference records, found {int(ref.sum())}.")
        return knn_distance(x, x[ref], min(self.knn_k, int(ref.sum()) - 1), ref)

    def _removals(self, scores: dict, n: int, ctx: OpContext) -> list[str | None]:
        reasons: list[str | None] = [None] * n
        if not self.remove_by or not n:
            return reasons
        s = np.asarray(scores[self.remove_by])
        if self.remove_above is not None:
            out = np.flatnonzero(s > self.remove_above)
            detail = f"> {self.remove_above:g}"
        else:
            count = int(round(self.remove_fraction * n))
            out = np.argsort(-s, kind="stable")[:count]
            detail = f"in the top {self.remove_fraction:.1%}"
        for i in out.tolist():
            reasons[i] = reason(f"ood {self.remove_by}", f"{s[i]:.4g} {detail}")
        ctx.info["removed"] = int(len(out))
        return reasons
