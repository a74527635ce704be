"""``dedup_exact``: remove documents whose normalized text is identical to another's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..registry import register_op
from ..text.words import dedup_key, normalize_text
from .keep import KEEP_PARAMS, priority_column, representatives

__all__ = ["DedupExact"]

_MASK64 = (1 << 64) - 1
#: The column each ``compare`` hashes: the text, or the hash the image reader took.
_SOURCES = {"text": "text", "image_bytes": "th_image_bytes_hash", "image_pixels": "th_image_pixel_hash"}


@register_op("dedup_exact")
class DedupExact(GlobalOp):
    """Exact deduplication on a 128-bit hash (xxh3) of the normalized text.

    With ``compare: image_bytes`` it compares images instead: the hash of their files' bytes; with
    ``compare: image_pixels`` the hash of their decoded pixels, so that an image re-encoded without
    loss (a PNG of a JPEG's pixels, a file with other metadata) matches too. Both hashes are
    taken when the images are read (``th_image_bytes_hash``, ``th_image_pixel_hash``).

    A record with an empty text (an image without a caption) is never a text duplicate.

    Documents with the same hash form a group; the group keeps one document, the first by
    ``(priority, id)``, and every other member goes to removed/ with ``dup_of`` naming it.
    ``normalize: full`` (default) hashes NFKC, lowercased text without punctuation and with
    single spaces, in the spirit of CCNet's paragraph normalization (Wenzek et al. 2020, Sec. 3.3);
    ``whitespace`` only collapses spaces; ``none`` hashes the raw text.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": "a", "text": "Free software is a matter of liberty, not price.", "quality": 0.2},
    ...         {"id": "b", "text": "free software is a matter of liberty,  not price", "quality": 0.9},
    ...         {"id": "c", "text": "Think of free speech, not free beer.", "quality": 0.5}]
    >>> try_op(DedupExact(), rows)  # same text once normalized: the smallest id stays
    Trial(kept=['a', 'c'], removed={'b': 'exact duplicate: same normalized text as a (group of 2)'})
    >>> t = try_op(DedupExact(priority="quality"), rows)  # or the highest quality
    >>> t.removed, t.column("dup_of")
    ({'a': 'exact duplicate: same normalized text as b (group of 2)'}, ['b', None, None])
    """

    params = {
        "compare": Param(str, "text", "what is compared: the text, an image's file bytes or its decoded pixels",
                    choices=("text", "image_bytes", "image_pixels")),
        "normalize": Param(str, "full", "text normalization before hashing", choices=("full", "whitespace", "none")),
        **KEEP_PARAMS,
    }

    def holds(self) -> str:
        what = self.compare.replace("_", " ")
        return f"id, 128-bit {what} hash" + (", priority" if self.priority else "") + " per record"

    def key_columns(self) -> list[str]:
        return ["id", self._source] + ([self.priority] if self.priority is not None else [])

    @property
    def _source(self) -> str:
        return _SOURCES[self.compare]

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        hi, lo = [], []
        if self.compare == "text":  # an empty text (an image's record without caption) is nobody's copy
            texts = batch.column("text").to_pylist()
            hashes = (xxhash.xxh3_128_intdigest(self._key(text).encode("utf-8", "surrogatepass")) if text else 0
                      for text in texts)
        else:  # the reader's hex digests
            hashes = (int(h, 16) for h in batch.column(self._source).to_pylist())
        for h in hashes:
            hi.append(h >> 64)
            lo.append(h & _MASK64)
        cols = {"id": batch.column("id"), "h1": pa.array(hi, pa.uint64()), "h2": pa.array(lo, pa.uint64())}
        if self.compare == "text":
            cols["empty"] = pc.equal(batch.column("text"), "")
        if self.priority is not None:
            cols["priority"] = priority_column(self.name, self.priority, batch)
        return pa.table(cols)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        keys = KeyParts.of(keys)
        if not keys.num_rows:
            return pa.table({name: pa.array([], pa.string()) for name in ("id", "reason", "dup_of")})
        keys = keys.read()
        pairs = np.stack([keys.column("h1").to_numpy(), keys.column("h2").to_numpy()], axis=1)
        groups = np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1) if len(pairs) else np.zeros(0, int)
        if "empty" in keys.column_names:  # each empty text a group of its own
            empty = keys.column("empty").to_numpy(zero_copy_only=False)
            groups = np.where(empty, groups.max(initial=0) + 1 + np.arange(len(groups)), groups)
        priority = keys.column("priority") if self.priority is not None else None
        rep = representatives(groups, keys.column("id"), priority, self.prefer)
        sizes = np.bincount(groups)[groups] if len(groups) else groups
        dup = np.flatnonzero(rep != np.arange(len(rep)))
        ids = keys.column("id")
        reps = pc.take(ids, pa.array(rep[dup]))
        same = {"text": "same normalized text", "image_bytes": "same image file bytes",
                "image_pixels": "same image pixels"}[self.compare]
        texts = [reason("exact duplicate", f"{same} as {r} (group of {n})")
                 for r, n in zip(reps.to_pylist(), sizes[dup].tolist())]
        return pa.table({"id": pc.take(ids, pa.array(dup)), "reason": pa.array(texts, pa.string()), "dup_of": reps})

    def _key(self, text: str) -> str:
        if self.normalize == "full":
            return dedup_key(text)
        if self.normalize == "whitespace":
            return normalize_text(text, form=None, strip_control=False)
        return text
