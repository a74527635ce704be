"""``dedup_lines``: remove lines (or paragraphs) repeated across many documents: boilerplate."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, RowResult, reason
from ..columns import set_columns
from ..registry import register_op
from .lsh import normalize_for_shingles
from .spill import Partitions, memory_budget

__all__ = ["DedupLines"]

_SPLIT = {"line": r"\r?\n", "paragraph": r"\r?\n[ \t]*\r?\n\s*"}
_JOIN = {"line": "\n", "paragraph": "\n\n"}


@register_op("dedup_lines")
class DedupLines(GlobalOp):
    """Boilerplate removal by repeated lines, in the manner of CCNet (Wenzek et al. 2020, Sec. 3.3):
    every line (or paragraph, ``unit: paragraph``) is hashed after normalization (NFKC, lowercase,
    punctuation removed, digits as 0, single spaces); a line found in more than ``max_repeats``
    documents is boilerplate (navigation, cookie notices, licence headers) and is removed from
    every document that has it. A document that loses lines keeps the rest of its text (lines
    joined by a newline, paragraphs by a blank line); if fewer than ``min_words`` words remain,
    the document goes to removed/ with its original text. ``th_lines_removed`` counts the lines
    each document lost. Blank lines are never boilerplate.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> notice = "Accept all cookies to continue browsing."
    >>> texts = ["Beautiful is better than ugly. Explicit is better than implicit.",
    ...          "Simple is better than complex.", "Flat is better than nested.", "Now or never."]
    >>> rows = [{"id": f"d{i}", "text": notice + "\\n" + text} for i, text in enumerate(texts)]
    >>> t = try_op(DedupLines(max_repeats=2), rows)  # the notice is in 4 documents: boilerplate
    >>> t
    Trial(kept=['d0', 'd1', 'd2'], removed={'d3': 'boilerplate: 1 repeated line(s) removed, 3 word(s) left'})
    >>> t.column("text")[1], t.column("th_lines_removed")
    ('Simple is better than complex.', [1, 1, 1, 1])
    """

    params = {
        "unit": Param(str, "line", "what is deduplicated", choices=("line", "paragraph")),
        "max_repeats": Param(int, 2, "a line found in more documents than this is boilerplate", low=1),
        "min_words": Param(int, 5, "documents left with fewer words are removed", low=0),
        "memory_mb": Param(int, None, "memory budget of the counting, in MiB (null: a quarter of the available "
                           "memory); beyond it, line hashes spill to disk", low=16, nullable=True),
    }
    writes = ("th_lines_removed",)
    match_column = "hash"

    def holds(self) -> str:
        return "one 64-bit hash per distinct line of each record, counted one hash partition at a time"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return int(records * max(1.0, record_bytes / 40) * 24)

    def key_columns(self) -> list[str]:
        return ["text"]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        hashes, parent = self._hashes(batch.column("text"))
        distinct = np.unique(np.stack([parent.astype(np.uint64), hashes], axis=1), axis=0) if len(hashes) \
            else np.zeros((0, 2), np.uint64)  # a line counts once per document
        return pa.table({"hash": pa.array(distinct[:, 1], pa.uint64())})

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        """The boilerplate hashes with the number of documents that have each."""
        parts = KeyParts.of(keys)
        budget = memory_budget(self.memory_mb)
        n_parts = max(1, math.ceil(parts.num_rows * 32 / budget))
        spill = ctx.work_dir / f"lines-{ctx.step or 'dedup'}" if n_parts > 1 and ctx.work_dir else None
        table = Partitions(n_parts, (np.uint64,), spill)
        for _, part in parts.iter(["hash"]):
            hashes = part.column("hash").to_numpy()
            table.append((hashes % np.uint64(n_parts)).astype(np.int64), hashes)
        found, counts = [], []
        for k in range(n_parts):
            values, n = np.unique(table.read(k)[0], return_counts=True)
            found.append(values[n > self.max_repeats])
            counts.append(n[n > self.max_repeats])
        table.close()
        hashes, docs = np.concatenate(found), np.concatenate(counts)
        order = np.argsort(hashes)
        return pa.table({"hash": pa.array(hashes[order], pa.uint64()), "documents": pa.array(docs[order], pa.int64())})

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table, ctx: OpContext) -> RowResult:
        texts = batch.column("text")
        pieces = pc.split_pattern_regex(texts, _SPLIT[self.unit])
        flat = pc.list_flatten(pieces)
        parent = pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False)
        hashes = self._piece_hashes(flat)
        boiler = pc.is_in(pa.array(hashes, pa.uint64()), value_set=decisions.column("hash")).to_numpy(
            zero_copy_only=False) & (hashes != 0)
        lost = np.bincount(parent[boiler], minlength=batch.num_rows)
        n_lost = pa.array(lost, pa.int64())
        if not lost.any():
            return RowResult(set_columns(batch, {"th_lines_removed": n_lost}))
        keep = pa.array(~boiler)
        offsets = np.r_[0, np.cumsum(np.bincount(parent[~boiler], minlength=batch.num_rows))]
        rest = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat.filter(keep)),
                              _JOIN[self.unit])
        changed = pa.array(lost > 0)
        words = pc.count_substring_regex(rest, r"\S+").to_numpy(zero_copy_only=False)
        gone = (lost > 0) & (words < self.min_words)
        reasons = [reason("boilerplate", f"{n} repeated {self.unit}(s) removed, {w} word(s) left")
                   if g else None for g, n, w in zip(gone.tolist(), lost.tolist(), words.tolist())]
        new_text = pc.if_else(pc.and_(changed, pa.array(~gone)), rest, texts)
        return RowResult(set_columns(batch, {"text": new_text, "th_lines_removed": n_lost}), reasons)

    def _hashes(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the non-blank pieces of each text, with their row indices."""
        pieces = pc.split_pattern_regex(texts, _SPLIT[self.unit])
        hashes = self._piece_hashes(pc.list_flatten(pieces))
        parent = pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False)
        nonblank = hashes != 0
        return hashes[nonblank], parent[nonblank]

    @staticmethod
    def _piece_hashes(pieces: pa.Array) -> np.ndarray:
        """xxh3 of each normalized piece (digits as 0, single spaces); 0 for a blank one."""
        norm = pc.replace_substring_regex(normalize_for_shingles(pieces), r"\d", "0")
        norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(norm, r"\s+", " "))
        encoded = pc.dictionary_encode(norm)
        distinct = np.fromiter((xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass")) if s else 0
                                for s in encoded.dictionary.to_pylist()), np.uint64, len(encoded.dictionary))
        return distinct[encoded.indices.to_numpy(zero_copy_only=False)]
