"""``dedup_minhash``: near-duplicate removal with MinHash and locality-sensitive hashing."""

from __future__ import annotations

import math
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..registry import register_op
from . import lsh
from .keep import KEEP_PARAMS, priority_column, ranked, representatives, verified_representatives
from .lsh_tasks import (
    LinkRule,
    exact_links,
    exact_similarity,
    matrix,
    partitions_for,
    sharded_components,
    signature_agreement,
)
from .spill import Clusters, Partitions, SignatureStore, memory_budget

__all__ = ["DedupMinhash"]

_PARTITION_ENTRIES = 1 << 20


@register_op("dedup_minhash")
class DedupMinhash(GlobalOp):
    """Near-duplicate removal: MinHash signatures of n-gram shingles, LSH band buckets,
    connected components, and one kept document per component.

    Shingles are word ``ngram``-grams (default 5, as in Gopher's and FineWeb's MinHash dedup),
    or character ``ngram``-grams with ``shingle: char``, of the text after NFKC, lowercasing
    and turning punctuation into spaces; each is a 64-bit hash. ``num_perm`` multiply-shift
    hash functions give 32-bit (or, with ``hash_bits: 64``, 64-bit) MinHash values (Broder 1997).
    With ``bands``/``rows`` null, they are chosen for ``threshold`` from the S-curve
    ``1 - (1 - s^r)^b`` (Leskovec et al., Mining of Massive Datasets, Sec. 3.4): ``banding:
    recall`` (default) takes the fewest false-positive candidates among the choices that make a
    pair at the threshold a candidate with probability >= 0.995, (18, 6) for 0.8 and 128, and
    relies on verification to drop the false positives; ``banding: area`` minimises the sum of
    the false-positive and false-negative areas as datasketch does, (9, 13), which misses about
    60% of the pairs at the threshold itself.

    Documents sharing a band bucket are linked to the bucket's first document. ``verify:
    signature`` (default) drops a link when the signatures clearly refute it: their estimated
    Jaccard is more than 3 standard errors below ``threshold`` (0.694 for 0.8 and 128), so that
    pairs at the threshold are kept while LSH's chance collisions go. ``verify: exact`` keeps a
    link only when the Jaccard similarity of the two shingle sets is at least ``threshold``;
    ``none`` keeps every link. Each connected component keeps its first document by
    ``(priority, id)``; the others go to removed/ with ``dup_of`` (the kept one), ``score``
    (the signatures' estimate of their Jaccard similarity to it) and ``cluster_size``. A
    document without words is never a duplicate.

    So a removed record's ``score`` can be below ``threshold`` (0.66-0.73 were seen at 0.8),
    for two reasons: the signature check accepts estimates down to its cutoff (0.694), since a
    pair exactly at the threshold has a noisy estimate; and components are transitive: with
    A~B and B~C linked, C is removed as a duplicate of A even when J(A, C) is lower (a chain of
    edits, a template filled in differently). ``linkage: component`` (default) removes whole
    components, as the MinHash dedups of Gopher, FineWeb and datatrove do; ``linkage:
    verified`` removes a record only within ``threshold`` of the record it is a duplicate of
    (the signatures' estimate, or with ``verify: exact`` the shingle sets' Jaccard): in each
    component, in keep order, a record is a duplicate of the first kept record it is that
    similar to, and is kept when there is none, so that no two kept records of a component
    are that similar either. It keeps more records (pairs just above the threshold whose
    estimate falls below it too) and costs one comparison per record and kept record of its
    component. With ``component``, the step's details in the report and the card count the
    removed records whose ``score`` is below the threshold (``removed_below_threshold``).

    Memory: bucket entries (16 bytes per record and band) and signatures stay in memory when
    they fit in ``memory_mb`` (default: a quarter of the memory available); otherwise they
    spill to files in the stage's directory, the bucket entries partitioned by hash so that
    one partition at a time is in memory. On a cluster (the Ray executor) the shuffle to hash
    partitions, the linking of each partition and the connected components run as tasks on
    the workers (``lsh_tasks``), and the driver holds only the duplicated records' links. The
    result is the same every way.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> gpl = ("The licenses for most software and other practical works are designed to take away "
    ...        "your freedom to share and change the works.")
    >>> rows = [{"id": "a", "text": gpl}, {"id": "b", "text": gpl.replace("most", "much")},
    ...         {"id": "c", "text": "By contrast, the GNU General Public License is intended to guarantee "
    ...                             "your freedom to share and change all versions of a program."}]
    >>> t = try_op(DedupMinhash(threshold=0.6), rows)
    >>> t.removed, t.column("dup_of")
    ({'b': 'near duplicate: of a (estimated Jaccard 0.62, cluster of 2)'}, [None, 'a', None])
    >>> DedupMinhash().bands_rows(), DedupMinhash(banding="area").bands_rows()
    ((18, 6), (9, 13))
    """

    params = {
        "ngram": Param(int, 5, "units (words or characters) per shingle", low=1, high=200),
        "shingle": Param(str, "word", "shingle unit", choices=("word", "char")),
        "num_perm": Param(int, 128, "MinHash permutations", low=8, high=1024),
        "hash_bits": Param(int, 32, "bits per MinHash value", choices=(32, 64)),
        "threshold": Param(float, 0.8, "Jaccard similarity that makes a near-duplicate", low=0, high=1,
                           low_open=True),
        "bands": Param(int, None, "LSH bands (null: chosen from threshold)", low=1, nullable=True),
        "rows": Param(int, None, "rows per band (null: chosen from threshold)", low=1, nullable=True),
        "banding": Param(str, "recall", "how bands and rows are chosen from threshold", choices=("recall", "area")),
        "verify": Param(str, "signature", "check each LSH link's similarity",
                        choices=("signature", "exact", "none")),
        "linkage": Param(str, "component", "component: remove every connected component but one record; verified: "
                         "only records within threshold of the kept one", choices=("component", "verified")),
        "memory_mb": Param(int, None, "memory budget of the clustering, in MiB (null: a quarter of the "
                           "available memory); beyond it, work spills to disk", low=16, nullable=True),
        **KEEP_PARAMS,
    }

    def validate(self) -> None:
        if (self.bands is None) != (self.rows is None):
            raise RecipeError("dedup_minhash.bands and dedup_minhash.rows must be given together (or neither).")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise RecipeError(f"dedup_minhash.bands x rows ({self.bands} x {self.rows}) must not exceed "
                              f"dedup_minhash.num_perm ({self.num_perm}).")

    def bands_rows(self) -> tuple[int, int]:
        """The LSH bands and rows in use."""
        if self.bands is not None:
            return self.bands, self.rows
        if self.banding == "area":
            return lsh.optimal_bands(self.threshold, self.num_perm)
        return lsh.recall_bands(self.threshold, self.num_perm)

    def holds(self) -> str:
        bands, rows = self.bands_rows()
        curve = ", ".join(f"P({s})={lsh.s_curve(s, bands, rows):.3f}" for s in (0.5, 0.7, 0.8, 0.9))
        exact = "; texts of candidate pairs for exact verification" if self.verify == "exact" else ""
        cutoff = lsh.verify_cutoff(self.threshold, self.num_perm)
        check = {"signature": f"; links with estimated Jaccard < {cutoff:.3f} dropped",
                 "exact": f"; links with Jaccard < {self.threshold} dropped", "none": ""}[self.verify]
        return (f"a {self.num_perm} x {self.hash_bits}-bit signature and {bands} bucket keys per record, "
                f"spilled to disk beyond {self._budget_text()}{exact}; {bands} bands x {rows} rows, "
                f"probability of becoming candidates at Jaccard s: {curve}{check}")

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return min(self._in_memory_bytes(records), self._budget()) + records * 24

    #: Signatures are numba ``nogil`` kernels and Arrow, and apply is Arrow: threads of one process
    #: run them, and numba (about 1 s and 130 MiB per process) loads once, not in every worker.
    in_threads = True

    def warm_up(self) -> None:
        lsh.signatures(pa.array(["warm up the kernels"]), 1, self.num_perm, 0, self.shingle, self.hash_bits)

    # --- keys: one signature per record, computed in the workers ---------------------------
    def key_columns(self) -> list[str]:
        return ["id", "text"] + ([self.priority] if self.priority is not None else [])

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        sigs = lsh.signatures(batch.column("text"), self.ngram, self.num_perm, ctx.seed, self.shingle, self.hash_bits)
        flat = pa.array(sigs.reshape(-1), pa.uint32() if self.hash_bits == 32 else pa.uint64())
        bands = lsh.band_keys(sigs, *self.bands_rows())
        cols = {"id": batch.column("id"), "sig": pa.FixedSizeListArray.from_arrays(flat, self.num_perm),
                "band": pa.FixedSizeListArray.from_arrays(pa.array(bands.reshape(-1)), bands.shape[1]),
                "empty": pa.array(lsh.is_empty(sigs))}
        if self.priority is not None:
            cols["priority"] = priority_column(self.name, self.priority, batch)
        if self.verify == "exact":
            cols["text"] = batch.column("text")
        return pa.table(cols)

    # --- decide: buckets, links, components, one kept record per component -----------------
    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        decisions = self._decide(KeyParts.of(keys), ctx)
        ctx.info["linkage"] = self.linkage
        if self.linkage == "component":
            ctx.info["removed_below_threshold"] = int(np.sum(~self._near(decisions.column("score").to_numpy())))
        return decisions

    def _decide(self, parts: KeyParts, ctx: OpContext) -> pa.Table:
        n = parts.num_rows
        if ctx.distributed and ctx.work_dir is not None:
            bands, _ = self.bands_rows()
            members, groups, info = sharded_components(parts, bands, partitions_for(n, bands, ctx.workers),
                                                       self._link_rule(), ctx)
            ctx.info.update(info)
            return self._decisions(parts, members, groups, self._agreement(parts))
        n_parts, on_disk = self._partitions(n)
        spill = _spill_dir(ctx) if on_disk else None
        try:
            store, buckets = self._bucket(parts, n_parts, spill)
            agreement = store.agreement if store is not None else self._agreement(parts)
            label = self._cluster(parts, agreement, buckets, n, ctx.workers if not on_disk else 1)
            sizes = np.bincount(label, minlength=len(label))
            members = np.flatnonzero(sizes[label] > 1)
            return self._decisions(parts, members, label[members], agreement)
        finally:
            if spill is not None:
                shutil.rmtree(spill, ignore_errors=True)

    def _link_rule(self) -> LinkRule:
        return LinkRule(self.verify, self.num_perm, lsh.verify_cutoff(self.threshold, self.num_perm),
                        self.threshold, self.ngram, self.shingle)

    def _agreement(self, parts: KeyParts):
        """Estimated Jaccard of row pairs, reading only their signatures from the keys."""
        return lambda u, v: signature_agreement(parts, u, v, self.num_perm)

    def _bucket(self, parts: KeyParts, n_parts: int,
                spill: Path | None) -> tuple[SignatureStore | None, Partitions]:
        """One pass over the keys: (bucket key, record) entries to partitions; on disk, the
        signatures to a store too (in memory, verification reads the few it needs from the keys)."""
        bands, rows = self.bands_rows()
        dtype = np.uint32 if self.hash_bits == 32 else np.uint64
        store = SignatureStore(parts.num_rows, self.num_perm, dtype, spill) if spill is not None else None
        buckets = Partitions(n_parts, (np.uint64, np.int64), spill / "buckets" if spill else None)
        groups = np.array_split(np.arange(bands), n_parts) if spill is None else None
        for offset, table in parts.iter(["sig", "band", "empty"] if store is not None else ["band", "empty"]):
            if store is not None:
                store.write(offset, matrix(table.column("sig"), self.num_perm))
            valid = np.flatnonzero(~table.column("empty").to_numpy(zero_copy_only=False))
            keys = matrix(table.column("band"), bands)[valid]
            docs = valid + offset
            if groups is None:  # on disk: partitions by hash, as many as the budget needs
                flat = keys.reshape(-1)
                buckets.append((flat % np.uint64(n_parts)).astype(np.int64), flat, np.repeat(docs, bands))
            else:  # in memory: partitions are groups of bands (a bucket never spans two bands)
                for k, group in enumerate(groups):
                    lo, hi = group[0], group[-1] + 1
                    buckets.add(k, keys[:, lo:hi].reshape(-1), np.repeat(docs, hi - lo))
        return store, buckets

    def _cluster(self, parts: KeyParts, agreement, buckets: Partitions, n: int, threads: int = 1) -> np.ndarray:
        """Each record's component label, from the (verified) links of every bucket partition.
        Partitions are linked and verified by signatures (``agreement(u, v)``, reading the
        linked records' signatures from the on-disk store or the keys) on ``threads`` threads
        (numpy's sorts and the compiled loops release the GIL), a few at a time; exact
        verification reads texts, so its links are verified all at the end (they are few)."""
        clusters = Clusters(n, self._budget() // 64)
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        cutoff = lsh.verify_cutoff(self.threshold, self.num_perm)

        def links(k: int) -> tuple[np.ndarray, np.ndarray]:
            u, v = lsh.bucket_edges(*buckets.read(k))
            if self.verify == "signature" and len(u):
                keep = agreement(u, v) >= cutoff
                u, v = u[keep], v[keep]
            return u, v

        with ThreadPoolExecutor(max(1, threads)) as pool:
            for lo in range(0, buckets.n, max(1, threads)):
                for u, v in pool.map(links, range(lo, min(buckets.n, lo + max(1, threads)))):
                    if self.verify == "exact":
                        pending.append((u, v))
                    else:
                        clusters.add(u, v)
        buckets.close()
        if pending:
            u, v = np.concatenate([p[0] for p in pending]), np.concatenate([p[1] for p in pending])
            clusters.add(*exact_links(parts, u, v, self._link_rule()))
        return clusters.labels()

    def _decisions(self, parts: KeyParts, members: np.ndarray, groups: np.ndarray, agreement) -> pa.Table:
        """The removed records: of the ``members`` (sorted row indices of records in components
        of two or more, ``groups`` their component labels) all but each component's first by
        ``(priority, id)``; ``agreement(u, v)`` estimates the Jaccard similarity of rows."""
        if not len(members):
            return pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                             "dup_of": pa.array([], pa.string()), "score": pa.array([], pa.float64()),
                             "cluster_size": pa.array([], pa.int64())})
        columns = ["id", "priority"] if self.priority is not None else ["id"]
        taken = parts.take(members, columns)
        ids = taken.column("id")
        priority = taken.column("priority") if self.priority is not None else None
        if self.linkage == "verified":
            order = ranked(groups, ids, priority, self.prefer)
            rep = groups = verified_representatives(
                groups, order, lambda u, v: self._similar(parts, agreement, members[u], members[v]))
        else:
            rep = representatives(groups, ids, priority, self.prefer)
        dup = np.flatnonzero(rep != np.arange(len(members)))
        score = agreement(members[dup], members[rep[dup]])
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        size = counts[inverse[dup]]
        reps = pc.take(ids, pa.array(rep[dup], pa.int64()))
        return pa.table({
            "id": pc.take(ids, pa.array(dup, pa.int64())),
            "reason": self._reasons(reps, score, size),
            "dup_of": reps,
            "score": pa.array(score, pa.float64()),
            "cluster_size": pa.array(size, pa.int64()),
        })

    def _similar(self, parts: KeyParts, agreement, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether rows ``u[k]`` and ``v[k]`` are within ``threshold``: by their shingle sets with
        ``verify: exact``, by their signatures' estimate otherwise."""
        if self.verify == "exact":
            return exact_similarity(parts, u, v, self._link_rule()) >= self.threshold
        return self._near(agreement(u, v))

    def _near(self, score: np.ndarray) -> np.ndarray:
        """Whether estimated Jaccard similarities reach ``threshold`` (a score is a count over
        ``num_perm``: a tolerance keeps 96/128 at 0.75)."""
        return score >= self.threshold - 1e-9

    def _reasons(self, reps: pa.Array, score: np.ndarray, size: np.ndarray) -> pa.Array:
        """``near duplicate: of <rep> (estimated Jaccard 0.97, cluster of 3)`` per removed row,
        built column-wise: a score is a count of equal values over ``num_perm``."""
        shares = [f"{k / self.num_perm:.2f}" for k in range(self.num_perm + 1)]
        share = pc.take(pa.array(shares), pa.array(np.rint(score * self.num_perm).astype(np.int64)))
        parts = [reason("near duplicate", "of "), reps, " (estimated Jaccard ", share, ", cluster of ",
                 pa.array(size, pa.int64()).cast(pa.string()), ")"]
        return pc.binary_join_element_wise(*parts, "")

    # --- memory ---------------------------------------------------------------------------
    def _in_memory_bytes(self, records: int) -> int:
        """Working memory of an in-memory run: signatures, and bucket entries while sorted."""
        bands, _ = self.bands_rows()
        return records * (self.num_perm * self.hash_bits // 8 + bands * 48 + 64)

    def _budget(self) -> int:
        return memory_budget(self.memory_mb)

    def _budget_text(self) -> str:
        return f"{self.memory_mb} MiB" if self.memory_mb is not None else "a quarter of the available memory"

    def _partitions(self, records: int) -> tuple[int, bool]:
        """How many bucket partitions, and whether they spill to disk: in memory when the work
        fits the budget, as groups of bands of at most 2M entries (which bounds the sort's
        temporary arrays; at least 2, linked on one thread per worker); else on disk, partitioned by hash
        so that one partition, sorted, takes at most half of the budget."""
        bands, _ = self.bands_rows()
        budget = self._budget()
        if self._in_memory_bytes(records) <= budget:
            return min(bands, max(2, math.ceil(records * bands / _PARTITION_ENTRIES))), False
        return max(2, math.ceil(records * bands * 48 / (budget / 2))), True


def _spill_dir(ctx: OpContext) -> Path:
    base = ctx.work_dir if ctx.work_dir is not None else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix=f"spill-{ctx.step or 'dedup'}-", dir=base))
    return path
