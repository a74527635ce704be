"""``label_issues``: find mislabelled records with confident learning."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..registry import register_op
from .confident import find_label_issues, normalized_margin, self_confidence, suggested_labels
from .inputs import MODEL_PARAMS, check_model_params, model_key_columns, model_keys, predictions

__all__ = ["LabelIssues"]

ISSUE, QUALITY, SUGGESTED, CLEAN = "th_label_issue", "th_label_quality", "th_suggested_label", "th_label_clean"


@register_op("label_issues")
class LabelIssues(GlobalOp):
    """Label errors by confident learning (Northcutt, Jiang & Chuang 2021, JAIR 70): per-class
    thresholds (the mean self-confidence of each class), the confident joint of given and
    likely true labels, calibrated to the label counts, then for each (given, true) pair the
    records with the largest margin ``p_true - p_given`` are flagged ("prune by noise rate",
    cleanlab's default; ``method: confident_joint`` flags the joint's off-diagonal records).
    A record whose label is the model's top prediction is never flagged.

    Predictions: your model's ``probs`` or ``logits`` column (out-of-sample!), else the proxy
    model (logistic regression on the embed step's vectors or on TF-IDF), cross-fitted over
    ``folds`` so that no record is scored by a model trained on it. Every record gets
    ``th_label_quality`` (self-confidence or normalized margin: low = doubtful),
    ``th_label_issue`` and ``th_suggested_label`` (the most probable other class).
    ``action``: ``flag`` (columns only), ``remove`` (issues go to removed/ with the given
    label, the suggestion and the score), or ``relabel`` (``th_label_clean`` holds the
    suggestion for issues, the given label otherwise). Records with a null label are skipped.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> probs = [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]]  # your model's
    >>> labels = ["cat"] * 3 + ["dog"] * 3
    >>> rows = [{"id": i, "text": "", "label": label, "p": p} for i, label, p in zip("abcdef", labels, probs)]
    >>> t = try_op(LabelIssues(probs="p", action="remove"), rows)
    >>> t.removed
    {'c': "label issue: given 'cat', model suggests 'dog' (p=0.90, self_confidence 0.100)"}
    >>> try_op(LabelIssues(probs="p", action="relabel"), rows).column("th_label_clean")
    ['cat', 'cat', 'dog', 'dog', 'dog', 'dog']
    """

    annotates = True
    writes = (ISSUE, QUALITY, SUGGESTED, CLEAN)
    thresholds = {QUALITY: ()}
    params = {
        **MODEL_PARAMS,
        "method": Param(str, "prune_by_noise_rate", "how issues are chosen from the confident joint",
                        choices=("prune_by_noise_rate", "confident_joint")),
        "rank_by": Param(str, "self_confidence", "the label quality score",
                         choices=("self_confidence", "normalized_margin")),
        "action": Param(str, "flag", "flag (columns), remove, or relabel", choices=("flag", "remove", "relabel")),
    }

    def validate(self) -> None:
        check_model_params(self)

    def holds(self) -> str:
        return "id, label and the predictions (or the proxy's features) per record"

    def key_columns(self) -> list[str]:
        return model_key_columns(self)

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        return model_keys(self, batch, require_label=True)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        pred = predictions(self, keys, ctx)
        n = len(pred.labels)
        rows = np.flatnonzero(pred.labels >= 0)
        issue = np.zeros(n, bool)
        quality = np.full(n, np.nan)
        suggested = np.full(n, -1)
        if len(rows):
            p, y = pred.probs[rows], pred.labels[rows]
            issue[rows] = find_label_issues(p, y, self.method)
            score = self_confidence if self.rank_by == "self_confidence" else normalized_margin
            quality[rows] = score(p, y)
            suggested[rows] = suggested_labels(p, y)
        classes = np.array(pred.classes, dtype=object)
        given = [pred.classes[i] if i >= 0 else None for i in pred.labels]
        suggestion = [classes[s] if s >= 0 else None for s in suggested]
        clean = [s if flagged else g for g, s, flagged in zip(given, suggestion, issue)]
        per_class = np.bincount(pred.labels[issue], minlength=len(classes)) if issue.any() else np.zeros(len(classes))
        ctx.info.update({**pred.info(), "issues": int(issue.sum()), "method": self.method,
                         "issues_by_given_label": {c: int(k) for c, k in zip(pred.classes, per_class) if k}})
        reasons = [None] * n
        if self.action == "remove":
            for i in np.flatnonzero(issue):
                reasons[i] = reason("label issue", f"given {given[i]!r}, model suggests {suggestion[i]!r} "
                                                   f"(p={pred.probs[i, suggested[i]]:.2f}, {self.rank_by} "
                                                   f"{quality[i]:.3f})")
        columns = {"id": pred.ids, "reason": pa.array(reasons, pa.string()),
                   ISSUE: pa.array(np.where(pred.labels >= 0, issue, None).tolist(), pa.bool_()),
                   QUALITY: pa.array(quality.astype(np.float32), from_pandas=True),
                   SUGGESTED: pa.array(suggestion, pa.string())}
        if self.action == "relabel":
            columns[CLEAN] = pa.array(clean, pa.string())
        return pa.table(columns)
