"""``harvest``: pick a labelling budget from a pool: the records the model is least sure about,
under per-class quotas and pool rules, without near-duplicates."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..embed.vectors import EMBEDDING_KEY, vectors_for
from ..filter import compile_mask, expression_columns
from ..registry import register_op
from .ood import PREDICTED

__all__ = ["Harvest", "harvest"]


def quota_counts(quotas: dict, budget: int) -> dict:
    """Per class, the most records it may take: a fraction of the budget (< 1) or a count."""
    return {str(c): int(q) if q >= 1 else int(np.floor(q * budget)) for c, q in quotas.items()}


def harvest(score: np.ndarray, classes: list, eligible: np.ndarray, budget: int, caps: dict,
            vectors: np.ndarray | None, max_similarity: float | None) -> tuple[np.ndarray, dict]:
    """Greedy: walk the eligible records by score (highest first; ties by position), take one
    unless its class is at its cap or it is more similar than ``max_similarity`` (cosine) to
    a record already taken. Returns the chosen positions and, for the records passed over on
    the way, why (the others were below the budget's cut)."""
    order = [i for i in np.argsort(-score, kind="stable").tolist() if eligible[i]]
    taken: list[int] = []
    per_class: dict = {}
    passed: dict[int, str] = {}
    for i in order:
        if len(taken) >= budget:
            break
        c = classes[i]
        if c in caps and per_class.get(c, 0) >= caps[c]:
            passed[i] = f"class {c!r} quota of {caps[c]} full"
            continue
        if max_similarity is not None and taken:
            sims = vectors[taken] @ vectors[i]
            if float(sims.max()) > max_similarity:
                passed[i] = f"near-duplicate (cosine {float(sims.max()):.3f}) of a harvested record"
                continue
        taken.append(i)
        per_class[c] = per_class.get(c, 0) + 1
    return np.array(taken, np.int64), passed


@register_op("harvest")
class Harvest(GlobalOp):
    """Choose ``budget`` records to label from a pool: the highest ``by`` scores first (an
    ``ood_score`` column: the records the model is least sure about, the "harvest" loop of
    active learning and production monitoring), with per-class ``quotas`` on the predicted
    class (``{class: fraction of the budget}`` or ``{class: count}``: domain rules such as class
    frequencies), a pool rule ``where`` (an expression as in ``filter``, e.g. ``label is null``
    via ``is_null(label)``, or a region column), and diversity: ``max_similarity`` skips a record
    whose cosine similarity to one already chosen exceeds it (needs an embed step), so
    near-duplicates collapse to one. The harvest is kept; every other record goes to removed/
    with why (not in the pool, over its class quota, a near-duplicate, or past the budget).

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": i, "text": "", "pred": pred, "doubt": doubt}  # e.g. ood_score's columns
    ...         for i, pred, doubt in zip("abcd", ["cat", "cat", "dog", "dog"], [0.9, 0.8, 0.3, 0.1])]
    >>> t = try_op(Harvest(budget=2, by="doubt", class_column="pred", quotas={"cat": 1}), rows)
    >>> t.kept, t.removed["b"]
    (['a', 'c'], "not harvested by harvest: class 'cat' quota of 1 full")
    >>> t.removed["d"]
    "not harvested by harvest: below the budget's cut by doubt"
    """

    params = {
        "budget": Param(int, None, "records to choose", low=1),
        "by": Param(str, "th_ood_entropy", "the score column, highest first (run ood_score before)"),
        "quotas": Param(dict, None, "per predicted class: a fraction of the budget (< 1) or a count", nullable=True),
        "class_column": Param(str, PREDICTED, "the column the quotas count (default: ood_score's prediction)"),
        "where": Param(str, None, "an expression that pool records satisfy (filter's language)", nullable=True),
        "max_similarity": Param(float, None, "skip records more cosine-similar than this to a chosen one",
                                low=0, high=1, nullable=True),
    }

    def validate(self) -> None:
        if self.budget is None:
            raise RecipeError(f"{self.name}.budget is required (records to choose).")
        for c, q in (self.quotas or {}).items():
            if not isinstance(q, (int, float)) or isinstance(q, bool) or q < 0:
                raise RecipeError(f"{self.name}.quotas[{c!r}] must be a fraction of the budget or a count, got {q!r}.")
        if self.where:
            compile_mask(self.where, f"{self.name}.where")

    def holds(self) -> str:
        return "id, score, class, pool flag (and the embedding) per record"

    def needs(self) -> dict[str, str | None]:
        cols = [self.by] + ([self.class_column] if self.quotas else []) + \
            ([EMBEDDING_KEY] if self.max_similarity is not None else [])
        return self.columns_named(cols + (expression_columns(self.where) if self.where else []))

    def key_columns(self) -> list[str] | None:
        columns = ["id", self.by, self.class_column] + ([EMBEDDING_KEY] if self.max_similarity is not None else [])
        return list(dict.fromkeys(columns + (expression_columns(self.where) if self.where else [])))

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        names = batch.schema.names
        for column, what in ((self.by, "by"), (self.class_column, "class_column")):
            if column not in names and (column != self.class_column or self.quotas):
                raise InputError(f"{self.name}.{what}: no column {column!r} (run ood_score before harvest?); "
                                 f"columns: {names}")
        cols = {"id": batch.column("id"), "score": pc.cast(batch.column(self.by), pa.float64())}
        cols["class"] = pc.cast(batch.column(self.class_column), pa.string()) if self.class_column in names \
            else pa.nulls(batch.num_rows, pa.string())
        if self.where:
            cols["pool"] = compile_mask(self.where, f"{self.name}.where")(batch)
        if self.max_similarity is not None:
            if EMBEDDING_KEY not in names:
                raise InputError(f"{self.name}.max_similarity needs embeddings: add an `- embed: {{}}` step before it.")
            cols[EMBEDDING_KEY] = batch.column(EMBEDDING_KEY)
        return pa.table(cols)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        if not table.num_rows:
            return pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
        n = table.num_rows
        score = np.nan_to_num(table.column("score").to_numpy(zero_copy_only=False).astype(float), nan=-np.inf)
        classes = table.column("class").to_pylist()
        pool = np.asarray(table.column("pool").to_numpy(zero_copy_only=False), bool) if "pool" in \
            table.column_names else np.ones(n, bool)
        vectors = vectors_for(ctx, table.column(EMBEDDING_KEY)) if self.max_similarity is not None else None
        caps = quota_counts(self.quotas or {}, self.budget)
        taken, passed = harvest(score, classes, pool, self.budget, caps, vectors, self.max_similarity)
        chosen = np.zeros(n, bool)
        chosen[taken] = True
        by_class: dict = {}
        for i in taken.tolist():
            by_class[classes[i]] = by_class.get(classes[i], 0) + 1
        ctx.info.update({"budget": self.budget, "pool": int(pool.sum()), "harvested": int(len(taken)),
                         "harvested_by_class": {str(k): v for k, v in sorted(by_class.items(), key=str)},
                         "quotas": caps, "passed_over": len(passed)})
        rule = f"not harvested by {ctx.step or self.name}"
        below = f"below the budget's cut by {self.by}"
        reasons = [reason(rule, "not in the pool" if not pool[i] else passed.get(i, below))
                   for i in range(n) if not chosen[i]]
        dropped = np.flatnonzero(~chosen)
        return pa.table({"id": table.column("id").take(pa.array(dropped)), "reason": pa.array(reasons, pa.string())})
