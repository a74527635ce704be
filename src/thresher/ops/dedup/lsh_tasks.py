"""MinHash-LSH clustering as tasks for a cluster's workers (``OpContext.map``).

Three rounds, each a set of independent tasks that exchange files in the stage's directory:

1. *scatter*: each group of key parts writes its band keys sorted by hash partition, in one
   file with the partitions' bounds (the shuffle of the bucket entries; a bucket never spans
   two partitions);
2. *link*: each partition's buckets give links (every document to its bucket's smallest
   one), verified by signatures or shingle sets, then reduced to a *forest*: one link from
   every linked document to the smallest document of its component in that partition;
3. *merge*: forests merge a few at a time, in rounds, into one.

A task holds one partition's entries, or the links of the documents that have near-duplicates,
never the whole corpus; the driver reads only the final forest (the duplicated documents).
The components, hence the decisions, are those of the in-memory path.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..base import KeyParts, OpContext
from . import lsh

__all__ = ["LinkRule", "sharded_components", "partitions_for", "forest", "signature_agreement", "exact_links",
           "exact_similarity"]

#: Forests merged by one task of the merge rounds.
MERGE_FAN_IN = 8
#: Bucket entries (16 bytes each, and the sort's working copies) one scatter task holds.
SCATTER_ENTRIES = 1 << 23
#: Memory of one link task's partition: entries at about 48 bytes each while sorted.
LINK_BYTES = 512 << 20


@dataclass(frozen=True)
class LinkRule:
    """How a candidate link is checked: ``verify`` is ``signature`` (estimated Jaccard >=
    ``cutoff``), ``exact`` (shingle-set Jaccard >= ``threshold``) or ``none``."""

    verify: str
    num_perm: int
    cutoff: float
    threshold: float
    ngram: int
    shingle: str


def matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A fixed-size-list column as an ``(n, width)`` numpy array (a view when it has one chunk)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column.flatten().to_numpy().reshape(len(column), width)


def signature_rows(parts: KeyParts, rows: np.ndarray, num_perm: int) -> np.ndarray:
    """The signatures of ``rows`` (sorted, distinct row indices), copied out of the memory-
    mapped keys part by part: only the pages holding them are read."""
    out = None
    for offset, table in parts.iter(["sig"]):
        lo, hi = np.searchsorted(rows, [offset, offset + table.num_rows])
        if hi > lo:
            sig = matrix(table.column("sig"), num_perm)
            out = np.empty((len(rows), num_perm), sig.dtype) if out is None else out
            out[lo:hi] = sig[rows[lo:hi] - offset]
    return out if out is not None else np.zeros((0, num_perm), np.uint32)


def signature_agreement(parts: KeyParts, u: np.ndarray, v: np.ndarray, num_perm: int,
                        block: int = 1 << 16) -> np.ndarray:
    """The fraction of equal MinHash values of records ``u[k]`` and ``v[k]`` (their estimated
    Jaccard similarity), reading only their signatures, a block of pairs at a time."""
    from .kernels import agreement_into

    out = np.empty(len(u))
    for lo in range(0, len(u), block):
        a, b = u[lo:lo + block], v[lo:lo + block]
        need = lsh.distinct(np.concatenate([a, b]))
        sig = signature_rows(parts, need, num_perm)
        agreement_into(sig, np.searchsorted(need, a), np.searchsorted(need, b), out[lo:lo + block])
    return out


def exact_links(parts: KeyParts, u: np.ndarray, v: np.ndarray, rule: LinkRule) -> tuple[np.ndarray, np.ndarray]:
    """The links whose shingle sets have a Jaccard similarity of at least ``rule.threshold``."""
    keep = exact_similarity(parts, u, v, rule) >= rule.threshold
    return u[keep], v[keep]


def exact_similarity(parts: KeyParts, u: np.ndarray, v: np.ndarray, rule: LinkRule) -> np.ndarray:
    """The Jaccard similarity of the shingle sets of records ``u[k]`` and ``v[k]`` (their texts
    are in the keys)."""
    if not len(u):
        return np.zeros(0)
    from .kernels import jaccard_sorted

    need = lsh.distinct(np.concatenate([u, v]))
    texts = parts.take(need, ["text"]).column("text").combine_chunks()
    values, starts = lsh.shingle_sets(texts, rule.ngram, rule.shingle)
    similarity = np.empty(len(u))
    jaccard_sorted(values, starts, np.searchsorted(need, u), np.searchsorted(need, v), similarity)
    return similarity


def forest(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The components of links ``u - v`` as links ``(node, root)`` from every non-root node to
    its component's smallest node: as many links as linked nodes, the same components.

    >>> [a.tolist() for a in forest(np.array([5, 9, 2]), np.array([9, 7, 7]))]
    [[5, 7, 9], [2, 2, 2]]
    """
    if not len(u):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nodes = lsh.distinct(np.concatenate([u, v]))
    label = lsh.components(len(nodes), np.searchsorted(nodes, u), np.searchsorted(nodes, v))
    moved = np.flatnonzero(label != np.arange(len(nodes)))
    return nodes[moved], nodes[label[moved]]


def _save(path: Path, u: np.ndarray, v: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, np.stack([u, v]).astype(np.int64))
    tmp.replace(path)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    pair = np.load(path)
    return pair[0], pair[1]


# --- the tasks: module-level functions of one picklable item ------------------------------------
def scatter_task(item: tuple) -> int:
    """Write a group of key parts' bucket entries ``(band key, record)`` sorted by hash
    partition to ``out``: ``.keys`` and ``.docs`` arrays and the partitions' ``.bounds``;
    returns the number of entries."""
    group, bands, n_parts, out = item
    keys, docs = [], []
    for part, offset in group:
        table = KeyParts([part]).read(["band", "empty"])
        valid = np.flatnonzero(~table.column("empty").to_numpy(zero_copy_only=False))
        keys.append(matrix(table.column("band"), bands)[valid].reshape(-1))
        docs.append(np.repeat(valid + offset, bands))
    keys_all, docs_all = np.concatenate(keys).astype(np.uint64), np.concatenate(docs).astype(np.int64)
    partition = (keys_all % np.uint64(n_parts)).astype(np.int64)
    order = np.argsort(partition, kind="stable")
    keys_all[order].tofile(f"{out}.keys")
    docs_all[order].tofile(f"{out}.docs")
    np.save(f"{out}.bounds.npy", np.searchsorted(partition[order], np.arange(n_parts + 1)))
    return len(keys_all)


def _read_partition(prefix: Path, p: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.load(f"{prefix}.bounds.npy")[[p, p + 1]]
    return (np.fromfile(f"{prefix}.keys", np.uint64, count=int(hi - lo), offset=int(lo) * 8),
            np.fromfile(f"{prefix}.docs", np.int64, count=int(hi - lo), offset=int(lo) * 8))


def link_task(item: tuple) -> tuple[int, int]:
    """One partition's buckets to verified links, saved as a forest; returns the number of
    candidate links and of links that passed verification."""
    p, scattered, parts, rule, out = item
    read = [_read_partition(prefix, p) for prefix in scattered]
    keys = np.concatenate([r[0] for r in read]) if read else np.zeros(0, np.uint64)
    docs = np.concatenate([r[1] for r in read]) if read else np.zeros(0, np.int64)
    u, v = lsh.bucket_edges(keys, docs)
    candidates = len(u)
    keys_parts = KeyParts(parts)
    if rule.verify == "signature" and len(u):
        keep = signature_agreement(keys_parts, u, v, rule.num_perm) >= rule.cutoff
        u, v = u[keep], v[keep]
    elif rule.verify == "exact":
        u, v = exact_links(keys_parts, u, v, rule)
    _save(out, *forest(u, v))
    return candidates, len(u)


def merge_task(item: tuple) -> int:
    """Merge forests into one; returns its number of links."""
    paths, out = item
    loaded = [_load(Path(p)) for p in paths]
    u, v = forest(np.concatenate([a for a, _ in loaded]), np.concatenate([b for _, b in loaded]))
    _save(out, u, v)
    return len(u)


# --- the driver's part ------------------------------------------------------------------------
def partitions_for(records: int, bands: int, workers: int) -> int:
    """Hash partitions of the bucket entries: two per worker, or more when one would not fit
    in ``LINK_BYTES``."""
    return max(2 * max(1, workers), math.ceil(records * bands * 48 / LINK_BYTES))


def _scatter_groups(parts: KeyParts, bands: int) -> list[list[tuple]]:
    """Consecutive key parts, grouped so that a group holds at most ``SCATTER_ENTRIES``
    entries (or one part): ``[(part, offset of its first row), ...]`` per group."""
    groups: list[list[tuple]] = []
    offset, held = 0, SCATTER_ENTRIES
    for part, size in zip(parts.parts, parts.sizes):
        if held + size * bands > SCATTER_ENTRIES:
            groups.append([])
            held = 0
        groups[-1].append((part, offset))
        held += size * bands
        offset += size
    return groups


def sharded_components(parts: KeyParts, bands: int, n_parts: int, rule: LinkRule,
                       ctx: OpContext) -> tuple[np.ndarray, np.ndarray, dict]:
    """The records in components of two or more (sorted row indices), each one's component
    label (its smallest member), and counts for the manifest; every heavy step is a task of
    ``ctx.map``, exchanging files under ``ctx.work_dir``."""
    work = Path(ctx.work_dir) / "lsh"
    shutil.rmtree(work, ignore_errors=True)  # a driver killed mid-way starts the step's decide again
    work.mkdir(parents=True)
    groups = _scatter_groups(parts, bands)
    scattered = [work / f"scatter-{g:05d}" for g in range(len(groups))]
    entries = ctx.map(scatter_task, [(group, bands, n_parts, out) for group, out in zip(groups, scattered)])
    forests = [work / f"forest-0-{p:05d}.npy" for p in range(n_parts)]
    counts = ctx.map(link_task, [(p, scattered, parts.parts, rule, out) for p, out in enumerate(forests)])
    for prefix in scattered:
        for suffix in (".keys", ".docs", ".bounds.npy"):
            Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    rounds = 0
    while len(forests) > 1:
        rounds += 1
        batches = [forests[i:i + MERGE_FAN_IN] for i in range(0, len(forests), MERGE_FAN_IN)]
        merged = [work / f"forest-{rounds}-{g:05d}.npy" for g in range(len(batches))]
        ctx.map(merge_task, list(zip(batches, merged)))
        forests = merged
    child, root = _load(forests[0])
    shutil.rmtree(work, ignore_errors=True)
    members = lsh.distinct(np.concatenate([child, root]))
    label = members.copy()
    label[np.searchsorted(members, child)] = root
    info = {"partitions": n_parts, "scatter_tasks": len(groups), "bucket_entries": int(sum(entries)),
            "candidate_links": int(sum(c for c, _ in counts)), "verified_links": int(sum(k for _, k in counts)),
            "merge_rounds": rounds}
    return members, label, info
