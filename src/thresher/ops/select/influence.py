"""``influence``: how much each labelled record helps a target set (TRAK, Park et al. 2023), to
keep the most useful records or remove the most harmful."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import InputError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..embed.vectors import EMBEDDING_KEY, vectors_for
from ..filter import compile_expression, expression_columns
from ..model.inputs import MODEL_PARAMS, label_indices, model_key_columns, model_keys
from ..model.proxy import tfidf_features
from ..model.trak import TrakResult, trak_scores
from ..registry import register_op
from .target import check_embedding_keys, embed_step, embed_target, read_target_file, slice_mask

__all__ = ["Influence", "INFLUENCE"]

INFLUENCE = "th_influence"


@register_op("influence")
class Influence(GlobalOp):
    """Per-record utility for a target set, TRAK-style (Park et al. 2023, "TRAK: Attributing
    Model Behavior at Scale"): ``th_influence`` estimates how much training on the record raises
    the proxy's margins on the target records (positive: it helps the target; negative: it
    hurts it).

    The target set is a labelled evaluation file (``target``, its labels in ``target_label``,
    default the ``label`` column's name) or a slice of the data (``target_where``, an expression
    as in ``filter``; those records are the target, not candidates, and are kept). The proxy is
    the model-aware ops' logistic regression (L2, ``c``) on the embed step's vectors or on
    TF-IDF; ``ensemble`` proxies, each trained on a random ``subset`` of the labelled records
    (own seed); per record the gradient of the margin ``log(p_y / (1 - p_y))`` (Sec. 3.3),
    projected by a seeded Rademacher or Gaussian matrix to ``proj_dim`` (TRAK's default 2048;
    the exact gradients when they are smaller), factored by class as LoGra does for a linear
    layer (Choe et al. 2024); score ``phi_target^T (Phi^T Phi + damping I)^-1 phi_i`` summed over
    the targets, averaged over the proxies and times the mean ``Q = 1 - p_i`` (Algorithm 1).
    ``damping`` defaults to ``10 / c``, ten times the proxy's own penalty (the kernel of margin
    gradients outweighs the loss curvature; 10 had the best linear datamodeling score in
    ``bench/influence.py``). Projected features stream to a memmap in the stage's work dir and
    the kernel is accumulated chunk by chunk.

    ``select: k`` keeps the k records of highest utility; ``remove_harmful: k`` removes the k
    most negative (only records below 0); otherwise it annotates. Ties go by id. Unlabelled
    records are not scored (null) and are kept. The manifest gets the dimensions, the proxies'
    accuracy on the target and the spread of the scores.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1 * i] for i in range(6)] + [[0.1 * i, 1.0] for i in range(6)]
    >>> rows = [{"id": f"r{i:02d}", "text": "", "vec": v, "label": "cat" if i < 6 else "dog", "heldout": i in (0, 6)}
    ...         for i, v in enumerate(vectors)]
    >>> rows[2]["label"] = "dog"  # mislabelled: it hurts the held-out records
    >>> op = Influence(target_where="heldout", ensemble=2, remove_harmful=1)
    >>> t = try_op([Embed(precomputed="vec"), op], rows)
    >>> t.removed
    {'r02': 'harmful by influence: influence -0.04487 < 0, among the 1 most harmful to the target'}
    >>> t.rows["r00"]["th_influence"], t.rows["r01"]["th_influence"] > 0  # no score for the target itself
    (None, True)
    """

    annotates = True
    writes = (INFLUENCE,)
    probs = logits = None  # the proxy is always trained here: the scores need its gradients
    params = {
        "label": MODEL_PARAMS["label"],
        "classes": Param(list, None, "the class names (default: the sorted labels)", item=str, nullable=True),
        "features": Param(str, "embedding", "the proxy's features: the embed step's vectors, or TF-IDF of the text",
                          choices=("embedding", "tfidf")),
        "c": MODEL_PARAMS["c"],
        "target": Param(str, None, "the target (evaluation) file of labelled records, relative to the recipe",
                        nullable=True, extra={"path": True}),
        "target_label": Param(str, None, "the target file's label column (default: the label column's name)",
                              nullable=True),
        "target_text": Param(str, "text", "the target file's text field"),
        "target_where": Param(str, None, "or: the target is the slice of the data where this expression is true",
                              nullable=True),
        "embed": Param(dict, {}, "the embed step's parameters, to embed the target file the same way "
                       "(features: embedding)"),
        "proj_dim": Param(int, 2048, "projection dimension (TRAK: 2048); at most the gradient's size", low=1),
        "projection": Param(str, "rademacher", "random projection entries", choices=("rademacher", "gaussian")),
        "ensemble": Param(int, 3, "proxies averaged", low=1),
        "subset": Param(float, 0.5, "the fraction of the labelled records each proxy trains on", low=0, high=1,
                        low_open=True),
        "damping": Param(float, None, "added to the kernel's diagonal (default 10 / c)", low=0, nullable=True),
        "select": Param(int, None, "keep the k records of highest utility", low=0, nullable=True),
        "remove_harmful": Param(int, None, "remove the k records of most negative utility", low=0, nullable=True),
    }

    def validate(self) -> None:
        if (self.target is None) == (self.target_where is None):
            raise RecipeError(f"{self.name}: give exactly one of target (a labelled evaluation file) or target_where "
                              f"(an expression choosing the target slice of the data), got target={self.target!r}, "
                              f"target_where={self.target_where!r}.")
        if self.select is not None and self.remove_harmful is not None:
            raise RecipeError(f"{self.name}: give select or remove_harmful, not both.")
        if not self.label:
            raise RecipeError(f"{self.name}.label is required: the proxy model learns from it.")
        if self.target_where:
            compile_expression(self.target_where)
        embed_step(self)

    def input_files(self) -> list[Path]:
        """The target file: editing it recomputes the step (it enters the stage fingerprint)."""
        return [Path(self.target)] if self.target else []

    def holds(self) -> str:
        return "id, label, features (embedding or text) and the target flag per record; the kernel"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        per_record = 4 * 385 + 64 if self.features == "embedding" else int(record_bytes) + 2000
        return records * per_record + 2 * 8 * self.proj_dim ** 2 + 4096 * 4 * self.proj_dim * 2 + 64 * 2**20

    def _file_embedding(self) -> bool:
        return self.target is not None and self.features == "embedding"

    def needs(self) -> dict[str, str | None]:
        cols = model_key_columns(self) + (expression_columns(self.target_where) if self.target_where else [])
        return self.columns_named(cols + (embed_step(self).key_columns()[1:] if self._file_embedding() else []))

    def key_columns(self) -> list[str] | None:
        if self.target_where:
            return None  # the expression may read any column
        cols = model_key_columns(self)
        if self._file_embedding():
            cols += embed_step(self).key_columns()[1:]  # to check the embedding keys
        return list(dict.fromkeys(cols))

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        table = model_keys(self, batch, require_label=True)
        if self.target_where:
            table = table.append_column("target", slice_mask(self, batch))
        elif self._file_embedding():
            check_embedding_keys(self, batch)
        return table

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        table = KeyParts.of(keys).read_by_id()
        n = table.num_rows
        if not n:
            return _output(table.column("id"), [], np.zeros(0))
        labels, classes = label_indices(self, table)
        in_slice = np.asarray(table.column("target").to_numpy(zero_copy_only=False), bool) \
            if "target" in table.column_names else np.zeros(n, bool)
        candidates = np.flatnonzero((labels >= 0) & ~in_slice)
        target_file = read_target_file(self, self._target_extra()) if self.target else None
        y_target, where = self._target_labels(labels, in_slice, classes, target_file)
        if len(classes) < 2 or len(np.unique(labels[candidates])) < 2:
            raise InputError(f"{self.name}: the proxy model needs labelled records of at least 2 classes outside the "
                             f"target set in column {self.label!r}; found {len(candidates)} labelled records of "
                             f"{len(np.unique(labels[candidates]))} classes.")
        if self.proj_dim < len(classes):
            raise RecipeError(f"{self.name}.proj_dim must be at least the number of classes ({len(classes)}), got "
                              f"{self.proj_dim}.")
        x, x_target = self._features(table, in_slice, labels, target_file, ctx)
        work = tempfile.mkdtemp(prefix=f"influence-{ctx.step or self.name}-", dir=ctx.work_dir)
        try:
            result = trak_scores(x[candidates], labels[candidates], x_target, y_target, len(classes),
                                 ensemble=self.ensemble, subset=self.subset, proj_dim=self.proj_dim,
                                 kind=self.projection, damping=self.damping, c=self.c, seed=ctx.seed, work_dir=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        scores = np.full(n, np.nan)
        scores[candidates] = result.scores()
        reasons = self._reasons(scores, candidates, ctx)
        ctx.info.update(_info(self, result, where, len(y_target), candidates, scores, reasons))
        return _output(table.column("id"), reasons, scores)

    def _target_extra(self) -> list[str]:
        step = embed_step(self)
        return [step.precomputed] if self.features == "embedding" and step.precomputed else []

    def _target_labels(self, labels, in_slice, classes, target_file) -> tuple[np.ndarray, str]:
        """The target records' class indices and a description of where they come from."""
        if target_file is None:
            if not in_slice.any():
                raise InputError(f"{self.name}.target_where: the target set is empty: no record satisfies "
                                 f"{self.target_where!r}.")
            y = labels[in_slice & (labels >= 0)]
            if not len(y):
                raise InputError(f"{self.name}: the target set ({int(in_slice.sum())} records where "
                                 f"{self.target_where!r}) has no labelled record in column {self.label!r}.")
            return y, f"slice where {self.target_where}"
        raw = target_file.column("label").to_pylist()
        if not raw:
            raise InputError(f"{self.name}.target: the target set is empty: {self.target} has no record with a label "
                             f"in column {self.target_label or self.label!r}.")
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({v for v in raw if v not in index})
        if unknown:
            raise InputError(f"{self.name}.target: labels of {self.target} not among the records' classes: "
                             f"{unknown[:5]} (classes: {classes[:20]}).")
        return np.array([index[v] for v in raw], np.int64), f"file {self.target}"

    def _features(self, table: pa.Table, in_slice, labels, target_file, ctx: OpContext):
        """The records' features and the target's (rows of the slice, or of the file)."""
        if self.features == "embedding":
            x = vectors_for(ctx, table.column(EMBEDDING_KEY))
            x_target = embed_target(self, target_file, ctx) if target_file is not None else None
        else:
            texts = table.column("text").to_pylist()
            extra = target_file.column("text").to_pylist() if target_file is not None else []
            both = tfidf_features(texts + extra)  # one IDF over records and target
            x, x_target = both[:len(texts)], (both[len(texts):] if extra else None)
        if x_target is None:
            x_target = x[np.flatnonzero(in_slice & (labels >= 0))]
        return x, x_target

    def _reasons(self, scores: np.ndarray, candidates: np.ndarray, ctx: OpContext) -> list[str | None]:
        reasons: list[str | None] = [None] * len(scores)
        step = ctx.step or self.name
        s = scores[candidates]
        if self.select is not None:
            order = candidates[np.argsort(-s, kind="stable")]  # candidates are in id order: ties by id
            cut = f"the top-{self.select} cut {scores[order[self.select - 1]]:.4g}" if self.select else "select: 0"
            for i in order[self.select:].tolist():
                reasons[i] = reason(f"not selected by {step}", f"influence {scores[i]:.4g}, below {cut}")
        elif self.remove_harmful is not None:
            order = candidates[np.argsort(s, kind="stable")][:self.remove_harmful]
            for i in order[scores[order] < 0].tolist():
                reasons[i] = reason(f"harmful by {step}", f"influence {scores[i]:.4g} < 0, among the "
                                    f"{self.remove_harmful} most harmful to the target")
        return reasons


def _output(ids, reasons: list, scores: np.ndarray) -> pa.Table:
    values = pa.array(scores.astype(np.float32), pa.float32(), mask=np.isnan(scores))
    return pa.table({"id": ids, "reason": pa.array(reasons, pa.string()), INFLUENCE: values})


def _info(op: Influence, result: TrakResult, where: str, n_target: int, candidates, scores, reasons) -> dict:
    s = scores[candidates]
    proj = result.projection
    return {"target": where, "target_records": int(n_target), "candidates": int(len(candidates)),
            "unscored": int(len(scores) - len(candidates)), "classes": proj.classes, "features": op.features,
            "gradient_dim": proj.gradient_dim, "proj_dim": proj.out_dim,
            "projection": "none (exact gradients)" if proj.exact else op.projection, "ensemble": op.ensemble,
            "damping": round(result.damping, 6),
            "proxy_target_accuracy": round(float(np.mean(result.target_accuracy)), 4),
            "negative": int((s < 0).sum()),
            "influence_quantiles": {f"p{q}": float(np.quantile(s, q / 100)) for q in (0, 5, 50, 95, 100)},
            "removed": sum(r is not None for r in reasons)}
