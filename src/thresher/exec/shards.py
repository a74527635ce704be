"""Shard files of a stage: naming, atomic completion markers, and reading them back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.writers import atomic_path

__all__ = ["SUCCESS", "kept_path", "removed_path", "stats_path", "write_json", "read_json", "read_shard", "clean_tmp"]


#: The file that marks a stage complete (written last, holding the stage's stats).
SUCCESS = "_SUCCESS.json"


def kept_path(stage_dir: Path, shard: str) -> Path:
    return stage_dir / "kept" / f"{shard}.parquet"


def removed_path(stage_dir: Path, shard: str) -> Path:
    return stage_dir / "removed" / f"{shard}.parquet"


def stats_path(stage_dir: Path, shard: str) -> Path:
    return stage_dir / "stats" / f"{shard}.json"


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (the stats file of a shard is its completion marker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_shard(path: Path, columns: list[str] | None = None) -> pa.RecordBatch:
    """A whole shard (or some of its columns) as one record batch."""
    table = pq.read_table(path, columns=columns)
    if table.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return table.combine_chunks().to_batches()[0]


def clean_tmp(stage_dir: Path) -> None:
    """Remove temporary files left by a run that was killed."""
    if stage_dir.exists():
        for tmp in stage_dir.rglob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
