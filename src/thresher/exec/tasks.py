"""The work a worker process does on one unit: ingest a file, run row steps on a shard,
compute a global op's keys on a shard, or apply its decisions to a shard.

Each task writes its outputs atomically and its stats file last: a task whose stats file
exists is complete, which is what lets a killed run resume shard by shard.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..io.images import read_image_files
from ..io.readers import ReadOptions, Span, read_batches
from ..io.writers import write_ipc, write_parquet
from ..ops.base import OpContext, RowResult
from ..recipe import Step
from .shards import kept_path, read_shard, removed_path, stats_path, write_json

__all__ = ["IngestTask", "RowTask", "KeysTask", "ApplyTask", "run_task", "INPUT_STEP"]

INPUT_STEP = "input"


@dataclass(frozen=True)
class IngestTask:
    file_index: int
    path: Path
    rel: str
    options: ReadOptions
    stage_dir: Path
    span: Span | None = None  # a byte range of a large JSONL file
    span_index: int = 0
    images: tuple[tuple[Path, str], ...] = ()  # format images: the image files (path, id) of this task
    label_from: str | None = None

    @property
    def unit(self) -> str:
        if self.images:
            return f"i{self.file_index:05d}"
        return f"f{self.file_index:05d}" + (f".{self.span_index:04d}" if self.span is not None else "")


@dataclass(frozen=True)
class ShardTask:
    """Work on one shard of the previous stage's output."""

    shard: str
    source: Path
    stage_dir: Path
    seed: int

    @property
    def unit(self) -> str:
        return self.shard


@dataclass(frozen=True)
class RowTask(ShardTask):
    steps: tuple[Step, ...] = ()
    cache_dir: Path = field(kw_only=True)  # executor.cache_dir, required of every op task


@dataclass(frozen=True)
class KeysTask(ShardTask):
    step: Step | None = None
    cache_dir: Path = field(kw_only=True)


@dataclass(frozen=True)
class ApplyTask(ShardTask):
    step: Step | None = None
    decisions: Path | None = None
    cache_dir: Path = field(kw_only=True)


def run_task(task) -> dict:
    """Run one task in this process; return its stats (also written to its stats file)."""
    start = time.perf_counter()
    if isinstance(task, IngestTask):
        stats = _ingest(task)
    elif isinstance(task, RowTask):
        stats = _row(task)
    elif isinstance(task, KeysTask):
        stats = _keys(task)
    else:
        stats = _apply(task)
    stats["seconds"] = time.perf_counter() - start
    pa.default_memory_pool().release_unused()  # an idle worker holds no freed Arrow buffers
    stats["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    marker = stats_path(task.stage_dir, task.unit) if not isinstance(task, KeysTask) \
        else task.stage_dir / "keys" / f"{task.unit}.json"
    write_json(marker, stats)
    return stats


def _ingest(task: IngestTask) -> dict:
    shards, rows, bytes_in, bad_total = [], 0, 0, 0
    bad_rows: list[dict] = []
    chunks = read_image_files(task.images, task.options, task.label_from) if task.images else \
        read_batches(task.path, task.rel, task.options, task.span)
    for k, (batch, bad) in enumerate(chunks):
        bad_rows.extend({"id": b.id, "text": b.text, "th_source": b.source, "removed_by": INPUT_STEP,
                         "reason": b.reason} for b in bad)
        if batch is not None and batch.num_rows:
            shard = f"{task.unit}-{k:05d}"
            write_parquet(batch, kept_path(task.stage_dir, shard))
            shards.append(shard)
            rows += batch.num_rows
            bytes_in += batch.column("text").nbytes
    if bad_rows:
        write_parquet(pa.Table.from_pylist(bad_rows, schema=_BAD_SCHEMA), removed_path(task.stage_dir, task.unit))
        bad_total = len(bad_rows)
    removed = _count_rules(pa.array([b["reason"] for b in bad_rows], pa.string())) if bad_rows else {}
    return {"shards": shards, "rows_in": rows + bad_total, "kept": rows, "text_bytes": bytes_in,
            "steps": {INPUT_STEP: {"in": rows + bad_total, "removed": removed}}}


_BAD_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("th_source", pa.string()),
                         ("removed_by", pa.string()), ("reason", pa.string())])


def _row(task: RowTask) -> dict:
    batch = read_shard(task.source)
    rows_in = batch.num_rows
    steps: dict[str, dict] = {}
    removed_parts: list[pa.Table] = []
    for step in task.steps:
        ctx = OpContext(seed=task.seed, step=step.name, cache_dir=task.cache_dir)
        t0, n_in = time.perf_counter(), batch.num_rows
        batch, removed = split(step.op.process(batch, ctx), step.name)
        steps[step.name] = _step_stats(n_in, removed, time.perf_counter() - t0)
        if removed is not None:
            removed_parts.append(removed)
    _write_outputs(task, batch, removed_parts)
    return {"rows_in": rows_in, "kept": batch.num_rows, "steps": steps}


def _keys(task: KeysTask) -> dict:
    wanted = task.step.op.key_columns()
    if wanted is not None:  # a column the shard lacks is left for the op to report
        wanted = [c for c in wanted if c in pq.read_schema(task.source).names]
    batch = read_shard(task.source, wanted)
    keys = task.step.op.keys(batch, OpContext(seed=task.seed, step=task.step.name, cache_dir=task.cache_dir))
    write_ipc(keys, task.stage_dir / "keys" / f"{task.shard}.arrow")
    return {"rows_in": batch.num_rows}


_DECISIONS: dict[Path, pa.Table] = {}
_DECISIONS_LOCK = threading.Lock()


def _decisions(path: Path) -> pa.Table:
    """A global step's decisions, read once per process (tasks may run on threads)."""
    with _DECISIONS_LOCK:
        if path not in _DECISIONS:
            _DECISIONS.clear()
            _DECISIONS[path] = pq.read_table(path)
        return _DECISIONS[path]


def _apply(task: ApplyTask) -> dict:
    decisions = _decisions(task.decisions)
    batch = read_shard(task.source)
    t0 = time.perf_counter()
    ctx = OpContext(seed=task.seed, step=task.step.name, cache_dir=task.cache_dir)
    result = task.step.op.apply(batch, decisions, ctx)
    kept, removed = split(result, task.step.name)
    _write_outputs(task, kept, [removed] if removed is not None else [])
    step_stats = _step_stats(batch.num_rows, removed, time.perf_counter() - t0)
    return {"rows_in": batch.num_rows, "kept": kept.num_rows, "steps": {task.step.name: step_stats}}


def split(result: RowResult, step_name: str) -> tuple[pa.RecordBatch, pa.Table | None]:
    """Split an op's result into kept rows and removed rows (with ``removed_by``, ``reason``)."""
    batch, reasons = result.batch, result.reasons
    if reasons is None:
        return batch, None
    reasons = reasons if isinstance(reasons, pa.Array) else pa.array(reasons, pa.string())
    dropped = reasons.is_valid()
    if not pc.any(dropped).as_py():
        return batch, None
    removed = pa.Table.from_batches([batch.filter(dropped)])
    removed = removed.append_column("removed_by", pa.array([step_name] * removed.num_rows, pa.string()))
    removed = removed.append_column("reason", reasons.filter(dropped))
    for name, values in result.extras.items():
        removed = removed.append_column(name, values.filter(dropped))
    return batch.filter(pc.invert(dropped)), removed


def _step_stats(rows_in: int, removed: pa.Table | None, seconds: float) -> dict:
    rules = _count_rules(removed.column("reason")) if removed is not None else {}
    return {"in": rows_in, "removed": rules, "seconds": seconds}


def _count_rules(reasons) -> dict[str, int]:
    """Counts per rule: the part of each reason before ``": "``."""
    rules = pc.replace_substring_regex(reasons, pattern=r"(?s): .*", replacement="", max_replacements=1)
    counts = pc.value_counts(rules).to_pylist()
    return {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])}


def _write_outputs(task, kept: pa.RecordBatch, removed_parts: list[pa.Table]) -> None:
    write_parquet(kept, kept_path(task.stage_dir, task.unit))
    if removed_parts:
        table = pa.concat_tables(removed_parts, promote_options="permissive")
        write_parquet(table, removed_path(task.stage_dir, task.unit))
