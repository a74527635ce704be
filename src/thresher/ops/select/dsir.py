"""``dsir``: select the records that look like a target, by importance resampling on hashed
n-gram features (Xie et al. 2023)."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import InputError, NotFoundError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..filter import compile_mask, expression_columns
from ..registry import register_op
from .hashed_ngrams import bucket_counts, hashed_ngrams

__all__ = ["DSIR", "LOGWEIGHT", "importance_resample", "log_importance_ratio", "kl_divergence"]

LOGWEIGHT = "th_dsir_logweight"
#: Added to every bucket probability before its log, as the reference does (``+ 1e-8``).
SMOOTHING = 1e-8


def log_importance_ratio(target: np.ndarray, raw: np.ndarray, smoothing: float = SMOOTHING) -> np.ndarray:
    """Per bucket, ``log(p_target + smoothing) - log(p_raw + smoothing)`` where ``p`` are the
    bucket counts normalized to sum 1: a record's log-importance weight is the sum of this over
    its n-grams (the bag-of-ngrams models' log-likelihood ratio, Xie et al. 2023).

    >>> log_importance_ratio(np.array([3, 1]), np.array([1, 1])).round(4).tolist()
    [0.4055, -0.6931]
    """
    return np.log(_probs(target) + smoothing) - np.log(_probs(raw) + smoothing)


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """``KL(p || q)`` of two bucket-count vectors, each normalized to sum 1, with the reference's
    ``1e-8`` smoothing inside the logs (so that an empty bucket of ``q`` costs a finite amount).

    >>> kl_divergence(np.array([1, 1]), np.array([1, 1])), round(kl_divergence(np.array([1, 0]), np.array([1, 3])), 4)
    (0.0, 1.3863)
    """
    p, q = _probs(p_counts), _probs(q_counts)
    nz = p > 0
    return float(np.sum(p[nz] * (np.log(p[nz] + SMOOTHING) - np.log(q[nz] + SMOOTHING))))


def _probs(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, np.float64)
    return counts / max(counts.sum(), 1.0)


def importance_resample(logweight: np.ndarray, k: int, *, seed: int, eligible: np.ndarray | None = None,
                        top_k: bool = False) -> np.ndarray:
    """A boolean mask of ``k`` records drawn without replacement with probabilities proportional
    to ``exp(logweight)``: the ``k`` largest ``logweight + G`` with ``G`` i.i.d. standard Gumbel,
    drawn in the given order from ``numpy.random.default_rng(seed)`` (the Gumbel-top-k trick,
    Kool et al. 2019; the reference's ``resample``). ``top_k`` takes the largest weights
    without noise. Only ``eligible`` records are drawn; ties go to the earlier record.

    >>> importance_resample(np.array([0.0, 5.0, -5.0, 4.0]), 2, seed=0, top_k=True).tolist()
    [False, True, False, True]
    """
    score = np.array(logweight, np.float64)
    if not top_k:
        score += np.random.default_rng(seed).gumbel(size=len(score))
    if eligible is not None:
        score[~eligible] = -np.inf
    chosen = np.zeros(len(score), bool)
    chosen[np.argsort(-score, kind="stable")[:k]] = True
    return chosen


@register_op("dsir")
class DSIR(GlobalOp):
    """Data selection with importance resampling (DSIR; Xie et al. 2023, "Data Selection for
    Language Models via Importance Resampling", NeurIPS): keep ``size`` records (or a
    ``fraction``) drawn from the data so that they look like a target set.

    Every record is a bag of hashed n-grams: lowercased NLTK word-punct tokens, unigrams and
    bigrams (``ngrams: 2``) hashed by SHA-256 into ``num_buckets`` (10,000) buckets, exactly as
    the authors' ``data-selection`` package (1.0.3, ``HashedNgramDSIR``) computes them.
    Two bag-of-ngrams models are fitted by counting: the raw one on every record of the data,
    the target one on ``target_files`` (JSONL, Parquet, CSV... with a ``target_text_field``)
    or on the records that ``target_expr`` selects (a ``filter`` expression, e.g.
    ``source == 'wikipedia'``; those records stay candidates). A record's log-importance weight
    is ``sum over its n-grams of log(p_target + 1e-8) - log(p_raw + 1e-8)``; ``size`` records
    are then drawn without replacement by Gumbel top-k on these weights, seeded, in id order, so
    the choice does not depend on workers or shards (``top_k: true`` takes the highest weights).
    Records with fewer than ``min_tokens`` tokens are never chosen (the reference's
    ``min_example_length`` is 100; 0 here, as thresher's length filters come first).

    Log-weights grow with length (a sum over n-grams), and a small target leaves many buckets
    empty, each costing ``log(smoothing / p_raw)`` (about -9 at the default 1e-8): with a target
    of a few hundred records, short records win. Raise ``smoothing`` (e.g. to 1e-5) or lower
    ``num_buckets`` (e.g. 1,000) in that case; the defaults are the reference's, so that the
    weights agree with it.

    Every record gets ``th_dsir_logweight``; records not chosen go to removed/ with reason
    ``not selected by <step>``. The manifest gets the sizes and the KL divergence of the target's
    n-gram distribution to the pool's (``kl_before``) and to the selected records'
    (``kl_after``), the paper's measure of how well a selection matches its target ("KL
    reduction" is their difference), with the reference's 1e-8 inside the logs whatever
    ``smoothing`` is. A small selection leaves buckets empty, which alone raises ``kl_after``:
    compare it with a random selection of the same size rather than with ``kl_before`` alone.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": "a", "text": "The cat sat on the mat.", "source": "wiki"},
    ...         {"id": "b", "text": "The dog sat on the mat.", "source": "web"},
    ...         {"id": "c", "text": "Buy cheap pills now!!! Click here.", "source": "web"},
    ...         {"id": "d", "text": "A cat sat on a mat.", "source": "web"}]
    >>> t = try_op(DSIR(target_expr="source == 'wiki'", size=2, top_k=True, num_buckets=64), rows)
    >>> t.kept, t.removed["c"]
    (['a', 'b'], 'not selected by dsir: importance resampling of 2 of 4 records toward the target (DSIR)')
    >>> [round(w) for w in t.column("th_dsir_logweight")]
    [7, -39, -173, -73]
    """

    annotates = True
    writes = (LOGWEIGHT,)
    params = {
        "target_files": Param(list, None, "files of target examples (relative to the recipe)", item=str,
                              nullable=True, extra={"path": True}),
        "target_expr": Param(str, None, "or: the records for which this filter expression is true", nullable=True),
        "target_text_field": Param(str, "text", "the text field of target_files"),
        "size": Param(int, None, "records to select", low=1, nullable=True),
        "fraction": Param(float, None, "fraction of the records to select", low=0, high=1, low_open=True,
                          nullable=True),
        "num_buckets": Param(int, 10_000, "hash buckets of the n-gram features", low=2, high=2**32),
        "ngrams": Param(int, 2, "longest n-gram (2: unigrams and bigrams)", low=1, high=5),
        "min_tokens": Param(int, 0, "records with fewer tokens are never selected", low=0),
        "smoothing": Param(float, SMOOTHING, "added to each bucket probability before its log", low=0,
                           low_open=True, high=1),
        "top_k": Param(bool, False, "take the highest weights instead of resampling"),
    }

    def validate(self) -> None:
        if (self.target_files is None) == (self.target_expr is None):
            raise RecipeError(f"{self.name}: set exactly one of target_files (files of target examples) or "
                              f"target_expr (a filter expression over the records), got target_files="
                              f"{self.target_files!r}, target_expr={self.target_expr!r}.")
        if self.target_files is not None and not self.target_files:
            raise RecipeError(f"{self.name}.target_files is empty: list at least one file of target examples.")
        if (self.size is None) == (self.fraction is None):
            raise RecipeError(f"{self.name}: set exactly one of size (records) or fraction, "
                              f"got size={self.size}, fraction={self.fraction}.")
        if self.target_expr is not None:
            self._cache_target = compile_mask(self.target_expr, f"{self.name}.target_expr")

    def resolve_paths(self, base_dir: Path) -> None:
        super().resolve_paths(base_dir)
        if self.target_files:
            self._target_paths()  # a missing file fails when the recipe is loaded, not after the keys

    def holds(self) -> str:
        return "id, token count and weight per record; one shard's n-gram bucket ids at a time"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * 120 + int(10_000 * max(record_bytes, 1.0) / 2) * 16 + 64 * self.num_buckets

    def key_columns(self) -> list[str]:
        return list(dict.fromkeys(["id", "text"] + (expression_columns(self.target_expr) if self.target_expr
                                                     else [])))

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        if "text" not in batch.schema.names:
            raise InputError(f"{self.name} reads the text, but the records have no text column; columns: "
                             f"{batch.schema.names}")
        bags = hashed_ngrams(batch.column("text"), num_buckets=self.num_buckets, ngrams=self.ngrams)
        cols = {"id": batch.column("id"), "grams": bags.to_arrow(), "tokens": pa.array(bags.tokens, pa.int64())}
        if self.target_expr is not None:
            if getattr(self, "_cache_target", None) is None:
                self._cache_target = compile_mask(self.target_expr, f"{self.name}.target_expr")
            cols["target"] = self._cache_target(batch)
        return pa.table(cols)

    # --- decide ----------------------------------------------------------------------------------
    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        parts = KeyParts.of(keys)
        step = ctx.step or self.name
        if not parts.num_rows:
            ctx.info.update({"records": 0, "selected": 0})
            return _decisions(pa.array([], pa.string()), np.zeros(0), np.zeros(0, object))
        raw, target, target_records = self._models(parts)
        log_ratio = log_importance_ratio(target, raw, self.smoothing)
        table, position = _weights(parts, log_ratio)
        logw = table.column("logw").to_numpy()
        tokens = table.column("tokens").to_numpy()
        k = self._budget(len(logw), int((tokens >= self.min_tokens).sum()))
        chosen = importance_resample(logw, k, seed=ctx.seed, eligible=tokens >= self.min_tokens, top_k=self.top_k)
        in_parts = np.zeros(len(chosen), bool)
        in_parts[position] = chosen
        selected = _selected_counts(parts, self.num_buckets, in_parts)
        ctx.info.update(self._report(raw, target, selected, target_records, logw, chosen))
        reasons = np.full(len(logw), None, object)
        reasons[~chosen] = reason(f"not selected by {step}",
                                  f"importance resampling of {k} of {len(logw)} records toward the target (DSIR)")
        for i in np.flatnonzero(tokens < self.min_tokens).tolist():
            reasons[i] = reason(f"not selected by {step}", f"{tokens[i]} tokens < min_tokens {self.min_tokens}")
        return _decisions(table.column("id"), logw, reasons)

    def _models(self, parts: KeyParts) -> tuple[np.ndarray, np.ndarray, int]:
        """Bucket counts of the raw data and of the target, and the target's record count."""
        raw, target, records = _pool_counts(parts, self.num_buckets, with_target=self.target_expr is not None)
        if self.target_expr is not None:
            where = f"no record matches {self.name}.target_expr {self.target_expr!r}"
        else:
            target, records = self._file_counts()
            where = f"{self.name}.target_files hold no text ({records} records in {len(self._target_paths())} files)"
        if not target.sum():
            raise InputError(f"{self.name}: the target is empty: {where}. The target model needs at least one "
                             "record with text.")
        return raw, target, records

    def input_files(self) -> list[Path]:
        """The target files: editing one recomputes the step (they enter the stage fingerprint)."""
        return self._target_paths() if self.target_files else []

    def _target_paths(self) -> list[Path]:
        paths = []
        for pattern in self.target_files:
            found = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
            if not found or not all(Path(p).is_file() for p in found):
                raise NotFoundError(f"{self.name}.target_files: {pattern} does not exist (or is not a file); "
                                    "give JSONL, Parquet or CSV files of target examples.")
            paths.extend(Path(p) for p in found)
        return paths

    def _file_counts(self) -> tuple[np.ndarray, int]:
        from ...io.readers import ReadOptions, read_batches

        counts, records = np.zeros(self.num_buckets, np.int64), 0
        options = ReadOptions(text_field=self.target_text_field)
        try:
            for path in self._target_paths():
                for batch, _ in read_batches(path, str(path), options):
                    if batch is not None:
                        bags = hashed_ngrams(batch.column("text"), num_buckets=self.num_buckets, ngrams=self.ngrams)
                        counts += bucket_counts(bags.buckets, self.num_buckets)
                        records += batch.num_rows
        except InputError as exc:
            hint = f" Set {self.name}.target_text_field to their text field." if "text field" in str(exc) else ""
            raise InputError(f"{self.name}.target_files: {exc}{hint}") from None
        return counts, records

    def _budget(self, n: int, eligible: int) -> int:
        k = self.size if self.size is not None else max(1, int(round(self.fraction * n)))
        if k > eligible:
            what = f"size {self.size}" if self.size is not None else f"fraction {self.fraction} ({k} records)"
            pool = f"{eligible} records with at least min_tokens={self.min_tokens} tokens of {n}" \
                if self.min_tokens else f"{n} records"
            raise InputError(f"{self.name}: {what} is more than the pool holds ({pool}); resampling is without "
                             "replacement: lower size or fraction.")
        return k

    def _report(self, raw, target, selected, target_records, logw, chosen) -> dict:
        before, after = kl_divergence(target, raw), kl_divergence(target, selected)
        return {"records": int(len(logw)), "selected": int(chosen.sum()), "target_records": int(target_records),
                "target_ngrams": int(target.sum()), "target": "files" if self.target_files else "expr",
                "kl_before": round(before, 6), "kl_after": round(after, 6), "kl_reduction": round(before - after, 6),
                "logweight_mean_all": round(float(logw.mean()), 4),
                "logweight_mean_selected": round(float(logw[chosen].mean()), 4) if chosen.any() else None}


def _pool_counts(parts: KeyParts, num_buckets: int, *, with_target: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Bucket counts of every record, and of the target records (``target`` column) and how
    many they are, in one pass over the parts."""
    raw, target, records = np.zeros(num_buckets, np.int64), np.zeros(num_buckets, np.int64), 0
    for _, table in parts.iter(["grams"] + (["target"] if with_target else [])):
        values, parents = _flat(table)
        raw += bucket_counts(values, num_buckets)
        if with_target:
            keep = table.column("target").to_numpy(zero_copy_only=False)
            target += bucket_counts(values[keep[parents]], num_buckets)
            records += int(keep.sum())
    return raw, target, records


def _selected_counts(parts: KeyParts, num_buckets: int, rows: np.ndarray) -> np.ndarray:
    """Bucket counts of the records of ``rows`` (a mask in part order)."""
    counts = np.zeros(num_buckets, np.int64)
    for offset, table in parts.iter(["grams"]):
        values, parents = _flat(table)
        counts += bucket_counts(values[rows[offset:offset + table.num_rows][parents]], num_buckets)
    return counts


def _flat(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Every record's bucket ids, concatenated, and the row each belongs to."""
    grams = table.column("grams").combine_chunks()
    lengths = np.diff(grams.offsets.to_numpy())
    return grams.flatten().to_numpy(), np.repeat(np.arange(len(grams)), lengths)


def _weights(parts: KeyParts, log_ratio: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """``(id, logw, tokens)`` of every record sorted by id, and each sorted row's position in
    part order."""
    ids, logw, tokens = [], [], []
    for _, table in parts.iter(["id", "grams", "tokens"]):
        values, parents = _flat(table)
        logw.append(np.bincount(parents, weights=log_ratio[values], minlength=table.num_rows))
        ids.append(table.column("id"))
        tokens.append(table.column("tokens"))
    table = pa.table({"id": pa.chunked_array([c for col in ids for c in col.chunks], pa.string()),
                      "logw": pa.array(np.concatenate(logw)),
                      "tokens": pa.chunked_array([c for col in tokens for c in col.chunks], pa.int64())})
    table = table.append_column("position", pa.array(np.arange(table.num_rows)))
    table = KeyParts.of(table).read_by_id()
    return table, table.column("position").to_numpy()


def _decisions(ids, logw: np.ndarray, reasons: np.ndarray) -> pa.Table:
    return pa.table({"id": ids, "reason": pa.array(reasons, pa.string()), LOGWEIGHT: pa.array(logw, pa.float64())})
