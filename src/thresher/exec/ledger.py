"""The audit ledger: publish kept/ and removed/, check input ids = kept ⊎ removed, count.

Every removed record carries ``removed_by`` (the step) and ``reason``; the invariant is checked
at the end of every run and a violation is an ``InvariantError``, never a silent loss.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InvariantError
from ..io.output import read_output_file
from ..io.writers import OUTPUT_SUFFIX, write_table
from .plan import Plan

__all__ = ["publish", "check_invariant", "read_ids"]


def publish(plan: Plan, metas: list[dict]) -> dict:
    """Write out/kept and out/removed from the stage outputs; return file counts."""
    out = plan.recipe.output_dir
    fmt = plan.recipe.output.format
    staging = out / ".publish"
    shutil.rmtree(staging, ignore_errors=True)
    kept_files = list(metas[-1]["shards"].values())
    for i, src in enumerate(kept_files):
        _publish_file(Path(src), staging / "kept" / f"part-{i:05d}{OUTPUT_SUFFIX[fmt]}", fmt, None)
    removed = removed_files(plan)
    if removed:
        schema = pa.unify_schemas([pq.read_schema(p) for _, p in removed], promote_options="permissive")
        for i, (stage, src) in enumerate(removed):
            name = f"part-{stage:02d}-{i:05d}{OUTPUT_SUFFIX[fmt]}"  # the stage in the name: report sampling
            _publish_file(src, staging / "removed" / name, fmt, schema)
    (staging / "removed").mkdir(parents=True, exist_ok=True)
    (staging / "kept").mkdir(parents=True, exist_ok=True)
    for name in ("kept", "removed"):
        shutil.rmtree(out / name, ignore_errors=True)
        os.replace(staging / name, out / name)
    shutil.rmtree(staging, ignore_errors=True)
    return {"kept_files": len(kept_files), "removed_files": len(removed)}


def removed_files(plan: Plan) -> list[tuple[int, Path]]:
    """``(stage index, path)`` of every stage's removed shards, in stage then shard order."""
    files = []
    for stage in plan.stages:
        folder = plan.stage_dir(stage) / "removed"
        if folder.exists():
            files.extend((stage.index, p) for p in sorted(folder.glob("*.parquet")))
    return files


def _publish_file(src: Path, dst: Path, fmt: str, schema: pa.Schema | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet" and (schema is None or pq.read_schema(src) == schema):
        try:
            os.link(src, dst)
            return
        except OSError:
            shutil.copyfile(src, dst)
            return
    table = pq.read_table(src)
    if schema is not None:
        from .local import conform

        table = conform(table, schema)
    write_table(table, dst, fmt)


def read_ids(paths: list[Path]) -> pa.Array:
    """The ``id`` column of output files (Parquet or JSONL), concatenated."""
    chunks = [c for path in paths for c in read_output_file(path, ["id"]).column("id").chunks]
    return pa.chunked_array(chunks, pa.string()).combine_chunks() if chunks else pa.array([], pa.string())


def check_invariant(plan: Plan, metas: list[dict]) -> dict:
    """Input ids (as ingested, valid or not) must equal kept ids ⊎ removed ids.

    Compared as sorted 64-bit id hashes (8 bytes a record); only a failure reads the ids
    themselves, to name what is missing or unexpected.
    """
    ingest_dir = plan.stage_dir(plan.stages[0])
    inputs = [Path(p) for p in metas[0]["shards"].values()] + sorted((ingest_dir / "removed").glob("*.parquet"))
    out = plan.recipe.output_dir
    kept_files = sorted((out / "kept").glob("part-*"))
    removed_files_ = sorted((out / "removed").glob("part-*"))
    with ThreadPoolExecutor(3) as pool:  # Parquet reads and numpy release the GIL
        expected, kept, removed = pool.map(_hashes, (inputs, kept_files, removed_files_))
    expected = np.sort(expected)
    got = np.sort(np.concatenate([kept, removed]))
    if len(got) != len(expected) or not np.array_equal(got, expected):
        a, b = read_ids(inputs), read_ids(kept_files + removed_files_)
        lost = pc.filter(a, pc.invert(pc.is_in(a, value_set=b))).to_pylist()[:5]
        extra = pc.filter(b, pc.invert(pc.is_in(b, value_set=a))).to_pylist()[:5]
        raise InvariantError(
            f"audit failed: {len(expected)} input records but {len(kept)} kept + {len(removed)} removed; "
            f"missing from the output: {lost}; unexpected or repeated: {extra}. Rerun with --fresh; if it "
            "persists, report a bug.")
    return {"input": len(expected), "kept": len(kept), "removed": len(removed)}


def _hashes(paths: list[Path]) -> np.ndarray:
    from .unique_ids import id_hashes

    parts = [id_hashes(read_output_file(p, ["id"]).column("id")) for p in paths]
    return np.concatenate(parts) if parts else np.array([], dtype=np.uint64)
