"""``rebalance``: even out a label column's classes by capping the frequent ones or by weights."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..columns import seeded_id_hashes
from ..registry import register_op

__all__ = ["Rebalance", "WEIGHT"]

WEIGHT = "th_weight"


@register_op("rebalance")
class Rebalance(GlobalOp):
    """Rebalance the classes of a label column (the standard remedies for class imbalance,
    e.g. He & Garcia 2009, "Learning from Imbalanced Data", Sec. 3.1 and 3.2).

    ``mode: cap`` keeps at most ``max_per_class`` records of each class (or ``max_ratio`` times
    the smallest class), chosen at random under the seed (a hash of seed and id, so independent
    of sharding) or by the highest ``priority``; the rest go to removed/ with the class, its
    size and the cap. ``mode: weight`` removes nothing and writes ``th_weight`` =
    ``(mean class size / class size) ** power``, scaled to average 1 over the records, for
    losses that upweight rare classes instead of copying them (``power: 0.5`` is the square-root
    smoothing). Null labels form their own class. The class counts before and after go to the
    manifest.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": f"r{i}", "text": "", "label": "spam" if i < 4 else "ham"} for i in range(6)]
    >>> t = try_op(Rebalance(max_per_class=2), rows)  # 2 of the 4 spam, chosen by a seeded hash of the id
    >>> t.kept, t.removed["r0"]
    (['r2', 'r3', 'r4', 'r5'], "class cap: label='spam' has 4 records, capped at 2")
    >>> try_op(Rebalance(mode="weight"), rows).column("th_weight")
    [0.75, 0.75, 0.75, 0.75, 1.5, 1.5]
    """

    annotates = True
    writes = (WEIGHT,)
    params = {
        "label": Param(str, "label", "the class column"),
        "mode": Param(str, "cap", "cap frequent classes, or write weights", choices=("cap", "weight")),
        "max_per_class": Param(int, None, "cap: records kept per class", low=1, nullable=True),
        "max_ratio": Param(float, None, "cap: at most this multiple of the smallest class", low=1, nullable=True),
        "power": Param(float, 1.0, "weight: exponent of the inverse class frequency", low=0, high=1),
        "priority": Param(str, None, "cap: numeric column, the highest kept first (default: random)",
                          nullable=True),
    }

    def validate(self) -> None:
        caps = (self.max_per_class is not None) + (self.max_ratio is not None)
        if self.mode == "cap" and caps != 1:
            raise RecipeError(f"{self.name}: mode cap needs exactly one of max_per_class or max_ratio, got "
                              f"max_per_class={self.max_per_class}, max_ratio={self.max_ratio}.")
        if self.mode == "weight" and (caps or self.priority):
            raise RecipeError(f"{self.name}: mode weight takes no max_per_class, max_ratio or priority.")

    def holds(self) -> str:
        return "id and label per record"

    def key_columns(self) -> list[str]:
        return ["id", self.label] + ([self.priority] if self.priority else [])

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        if self.label not in batch.schema.names:
            raise InputError(f"{self.name}.label: no column {self.label!r}; columns: {batch.schema.names}")
        cols = {"id": batch.column("id"), "label": pc.cast(batch.column(self.label), pa.string())}
        if self.priority:
            from ..dedup.keep import priority_column

            cols["priority"] = priority_column(self.name, self.priority, batch)
        return pa.table(cols)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        labels = pc.fill_null(table.column("label"), "(null)") if table.num_rows else table.column("label")
        classes, inverse = np.unique(np.asarray(labels.to_pylist(), dtype=object), return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes)) if len(classes) else np.zeros(0, int)
        before = dict(zip(classes.tolist(), counts.tolist()))
        if self.mode == "weight":
            mean = counts.mean() if len(counts) else 1.0
            w = (mean / counts[inverse]) ** self.power if len(inverse) else np.zeros(0)
            w = w / w.mean() if len(w) else w
            ctx.info.update({"classes_before": before, "classes_after": before,
                             "weight_by_class": {c: round(float(w[inverse == i][0]), 6)
                                                 for i, c in enumerate(classes)}})
            return pa.table({"id": table.column("id"), "reason": pa.nulls(len(w), pa.string()),
                             WEIGHT: pa.array(w.astype(np.float32))})
        cap = self.max_per_class if self.max_per_class is not None else int(self.max_ratio * counts.min())
        rank = self._rank(table, ctx.seed)
        order = np.lexsort((np.arange(len(rank)), rank, inverse))
        position = np.arange(len(order)) - np.searchsorted(inverse[order], inverse[order], side="left")
        dropped = np.sort(order[position >= cap])
        after = {c: min(int(n), cap) for c, n in before.items()}
        ctx.info.update({"cap": cap, "classes_before": before, "classes_after": after})
        texts = [reason("class cap", f"{self.label}={classes[inverse[i]]!r} has {counts[inverse[i]]} records, "
                                     f"capped at {cap}") for i in dropped.tolist()]
        return pa.table({"id": table.column("id").take(pa.array(dropped, pa.int64())),
                         "reason": pa.array(texts, pa.string())})

    def _rank(self, table: pa.Table, seed: int) -> np.ndarray:
        """Lower ranks are kept first: the highest priority (nulls last), or a seeded hash of the id."""
        if self.priority:
            p = -table.column("priority").to_numpy(zero_copy_only=False).astype(np.float64)
            return np.where(np.isnan(p), np.inf, p)
        return seeded_id_hashes(table.column("id").to_pylist(), seed).astype(np.float64)
