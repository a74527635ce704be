"""The local executor: a process pool over shards, stage by stage, resumable.

A stage's directory holds one Parquet file of kept rows and (when any) one of removed rows per
shard, and a stats file per shard written last; ``_SUCCESS.json`` marks the stage complete.
Rerunning skips complete stages and complete shards, so a killed run resumes where it was.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, ResourceError
from ..io.readers import ReadOptions, jsonl_spans
from ..io.writers import write_parquet
from ..manifest import merge_tasks
from ..ops.base import KeyParts, OpContext
from .lifeline import ENV, blocking_sigint, raise_if_interrupted, worker_init
from .plan import Plan, Stage
from .shards import SUCCESS, clean_tmp, kept_path, read_json, stats_path, write_json
from .tasks import ApplyTask, IngestTask, KeysTask, RowTask, run_task

__all__ = ["LocalExecutor", "SUCCESS", "start_fork_server"]

log = logging.getLogger("thresher.exec.local")
#: What the fork server imports once, for every worker forked from it (the lifeline first).
PRELOAD = ["thresher.exec.lifeline", "thresher.exec.tasks", "thresher.ops.builtin"]


def start_fork_server() -> None:
    """Start the fork server that worker processes come from now, so that it imports thresher
    (about half a second) while the run reads its inputs and plans. It is spawned with SIGINT
    blocked and told this process's pid, so that it and its workers die with this process and
    leave Ctrl-C to it (``lifeline``)."""
    from multiprocessing import forkserver, resource_tracker

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    resource_tracker.ensure_running()  # first: starting it unblocks SIGINT (bpo-33613), which would undo ours
    os.environ[ENV] = str(os.getpid())
    try:
        with blocking_sigint():
            forkserver.ensure_running()
    finally:
        os.environ.pop(ENV, None)


class LocalExecutor:
    """Runs a plan's stages on this machine with ``plan.workers`` processes."""

    #: Whether a global op's ``decide`` hands its heavy parts to other machines
    #: (``OpContext.distributed``); here it runs in this process, alone.
    distributed = False

    def __init__(self, plan: Plan, *, progress: bool | None = None) -> None:
        self.plan = plan
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._pool: ProcessPoolExecutor | None = None

    def run(self) -> list[dict]:
        """Run (or reuse) every stage; return each stage's meta, in order."""
        metas: list[dict] = []
        self._warm_up()
        try:
            for stage in self.plan.stages:
                metas.append(self._stage(stage, metas[-1] if metas else None))
        except BaseException:
            self._abort()  # Ctrl-C or an error: stop the workers now, not after their tasks
            raise
        finally:
            self._close_pool()
        return metas

    def _warm_up(self) -> None:
        """Global ops whose keys will run in this process load their kernels now, on a
        background thread, while the first stages run."""
        for stage in self.plan.stages:
            if stage.kind != "global" or read_json(self.plan.stage_dir(stage) / SUCCESS) is not None:
                continue
            op = stage.steps[0].op
            if self._keys_here(op):
                threading.Thread(target=op.warm_up, daemon=True, name=f"warm-up {stage.name}").start()

    def _keys_here(self, op) -> bool:
        """Whether a global op's keys run in this process (on threads, or inline with 1 worker)."""
        return op.in_threads or self.plan.workers == 1

    # --- stages ---------------------------------------------------------------------------
    def _stage(self, stage: Stage, prev: dict | None) -> dict:
        raise_if_interrupted()
        stage_dir = self.plan.stage_dir(stage)
        meta = read_json(stage_dir / SUCCESS)
        if meta is not None:
            meta["status"] = "reused"
            return meta
        clean_tmp(stage_dir)
        start = time.perf_counter()
        if stage.kind == "ingest":
            meta = self._ingest(stage, stage_dir)
        elif stage.kind == "row":
            meta = self._row(stage, stage_dir, prev)
        else:
            meta = self._global(stage, stage_dir, prev)
        meta.update(stage=stage.name, kind=stage.kind, index=stage.index, fingerprint=stage.fingerprint,
                    seconds=time.perf_counter() - start)
        if stage.kind == "global":  # a global step's time is its whole stage: keys, decide and apply
            for name in meta.get("steps", {}):
                meta["steps"][name]["seconds"] = meta["seconds"]
        write_json(stage_dir / SUCCESS, meta)
        meta["status"] = "computed"
        return meta

    def _ingest(self, stage: Stage, stage_dir: Path) -> dict:
        recipe = self.plan.recipe
        opts = ReadOptions(text_field=recipe.input.text_field, id_field=recipe.input.id_field,
                           on_error=recipe.input.on_error, batch_rows=self.plan.shard_rows,
                           columns=tuple(recipe.input.columns.items()), reserved=True,
                           image_field=recipe.input.image_field)
        tasks = []
        if recipe.input.format == "images":  # image files, a shard's worth per task
            files = [(f.path, f.rel) for f in self.plan.files]
            step = self.plan.shard_rows
            tasks = [IngestTask(k, files[k * step][0], files[k * step][1], opts, stage_dir,
                                images=tuple(files[k * step:(k + 1) * step]), label_from=recipe.input.label_from)
                     for k in range(-(-len(files) // step))]
        for i, f in enumerate(self.plan.files if not tasks else []):
            spans = jsonl_spans(f.path)
            tasks += [IngestTask(i, f.path, f.rel, opts, stage_dir, span, k) for k, span in enumerate(spans)] \
                if spans else [IngestTask(i, f.path, f.rel, opts, stage_dir)]
        total = self.plan.estimate.get("records")
        stats, computed = self._map(stage, tasks, total, weight="rows_in")
        shards = [s for st in stats for s in st["shards"]]
        _conform_schemas(stage_dir, shards, self.plan)
        meta = merge_tasks(stats, computed=computed)
        meta["shards"] = {s: str(kept_path(stage_dir, s)) for s in shards}
        meta["text_bytes"] = sum(st.get("text_bytes", 0) for st in stats)
        return meta

    def _row(self, stage: Stage, stage_dir: Path, prev: dict) -> dict:
        tasks = [RowTask(shard, Path(path), stage_dir, self.plan.recipe.seed, steps=tuple(stage.steps),
                         cache_dir=self.plan.cache_dir)
                 for shard, path in prev["shards"].items()]
        stats, computed = self._map(stage, tasks, prev["kept"], weight="rows_in")
        meta = merge_tasks(stats, computed=computed)
        meta["shards"] = {t.shard: str(kept_path(stage_dir, t.shard)) for t in tasks}
        return meta

    def _global(self, stage: Stage, stage_dir: Path, prev: dict) -> dict:
        step = stage.steps[0]
        seed = self.plan.recipe.seed
        sources = {shard: Path(path) for shard, path in prev["shards"].items()}
        key_tasks = [KeysTask(shard, path, stage_dir, seed, step=step, cache_dir=self.plan.cache_dir)
                     for shard, path in sources.items()]
        if step.op.in_threads:
            self._close_pool()  # keys and apply run on this process's threads: the idle workers' memory goes back
        _, computed_keys = self._map(stage, key_tasks, prev["kept"], weight="rows_in", phase="keys",
                                     threads=step.op.in_threads)
        decisions_path = stage_dir / "decisions.parquet"
        if not decisions_path.exists():
            self._close_pool()  # decide runs here alone: the idle workers' memory goes back first
            keys = KeyParts([stage_dir / "keys" / f"{s}.arrow" for s in sources])
            ctx = OpContext(seed=seed, step=step.name, work_dir=stage_dir, workers=self.plan.workers,
                            sources=tuple(sources.values()), cache_dir=self.plan.cache_dir,
                            mapper=self._decide_mapper(), distributed=self.distributed, progress=self.progress)
            start = time.perf_counter()
            write_parquet(step.op.decide(keys, ctx), decisions_path)
            ctx.info["decide_seconds"] = round(time.perf_counter() - start, 3)
            write_json(stage_dir / "info.json", ctx.info)
            _release_memory()  # what decide freed goes back before the apply workers start
        info = read_json(stage_dir / "info.json") or {}
        if pq.read_metadata(decisions_path).num_rows == 0 and not step.op.annotates:  # pass the shards through
            n = prev["kept"]
            return {"rows_in": n, "kept": n, "computed_units": computed_keys, "shards": prev["shards"],
                    "steps": {step.name: {"in": n, "removed": {}, "seconds": 0.0, **_info(info)}}}
        apply_tasks = [ApplyTask(shard, path, stage_dir, seed, step=step, decisions=decisions_path,
                                 cache_dir=self.plan.cache_dir) for shard, path in sources.items()]
        stats, computed = self._map(stage, apply_tasks, prev["kept"], weight="rows_in", phase="apply",
                                    threads=step.op.in_threads)
        meta = merge_tasks(stats, computed=computed + computed_keys)
        meta["steps"][step.name].update(_info(info))
        meta["shards"] = {t.shard: str(kept_path(stage_dir, t.shard)) for t in apply_tasks}
        return meta

    # --- running tasks --------------------------------------------------------------------
    def _map(self, stage: Stage, tasks: list, total: int | None, *, weight: str,
             phase: str = "", threads: bool = False) -> tuple[list[dict], int]:
        """Run the tasks not yet done (in parallel: worker processes, or this process's threads
        with ``threads``); return every task's stats in task order and how many tasks ran now
        (the others were done by an earlier, interrupted run)."""
        done = {t.unit: _done_stats(t) for t in tasks}
        pending = [t for t in tasks if done[t.unit] is None]
        label = f"[{stage.index}/{len(self.plan.stages) - 1}] {stage.name}" + (f" ({phase})" if phase else "")
        bar = _progress(label, total, self.progress)
        bar.update(sum(s.get(weight, 0) for s in done.values() if s))
        for task, stats in self._execute(pending, threads=threads):
            done[task.unit] = stats
            bar.update(stats.get(weight, 0))
            raise_if_interrupted()
        bar.close()
        return [done[t.unit] for t in tasks], len(pending)

    def _execute(self, tasks: list, threads: bool = False) -> Iterable[tuple[object, dict]]:
        if self.plan.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield task, run_task(task)
            return
        if threads:
            with ThreadPoolExecutor(self.plan.workers, thread_name_prefix="task") as pool:
                futures = {pool.submit(run_task, t): t for t in tasks}
                try:
                    for fut in as_completed(futures):
                        yield futures[fut], fut.result()
                finally:
                    for fut in futures:
                        fut.cancel()
            return
        pool = self._get_pool()
        futures: dict[Future, object] = {pool.submit(run_task, t): t for t in tasks}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for fut in sorted(finished, key=lambda f: futures[f].unit):
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    if isinstance(exc, BrokenProcessPool):
                        raise ResourceError(
                            f"a worker process died while working on shard {futures[fut].unit} (killed, or out of "
                            "memory?). Run the same command again to resume; if it recurs, lower executor.workers "
                            "or executor.shard_rows. (Calling thresher from a Python script? Put the call under "
                            "`if __name__ == '__main__':`, or worker processes cannot start.)") from exc
                    raise exc
                yield futures[fut], fut.result()

    def _decide_mapper(self):
        """The parallel map offered to ``decide``: none, it runs here (the workers' memory
        went back before it started)."""
        return None

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _abort(self) -> None:
        """Kill the workers (their unfinished tasks leave only temporary files) and drop the pool."""
        if self._pool is not None:
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            start_fork_server()
            ctx = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(max_workers=self.plan.workers, mp_context=ctx,
                                             initializer=worker_init, initargs=(os.getpid(),))
        return self._pool


def _release_memory() -> None:
    """Return freed memory to the system: Arrow's pool and glibc's heap keep it otherwise."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _info(info: dict) -> dict:
    return {"info": info} if info else {}


def _done_stats(task) -> dict | None:
    if isinstance(task, KeysTask):
        return read_json(task.stage_dir / "keys" / f"{task.unit}.json")
    return read_json(stats_path(task.stage_dir, task.unit))


def _progress(label: str, total: int | None, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="rec", unit_scale=True, disable=not enabled,
                dynamic_ncols=True, file=sys.stderr, leave=True)


def _conform_schemas(stage_dir: Path, shards: list[str], plan: Plan) -> None:
    """Give every ingested shard one schema (null columns typed, ints widened), or name the clash."""
    schemas = {s: pq.read_schema(kept_path(stage_dir, s)) for s in shards}
    if len({str(sc) for sc in schemas.values()}) <= 1:
        return
    try:
        unified = pa.unify_schemas(list(schemas.values()), promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise InputError(_schema_clash(schemas, plan) or f"input files disagree on column types: {exc}") from None
    for shard, schema in schemas.items():
        if schema != unified:
            table = pq.read_table(kept_path(stage_dir, shard))
            write_parquet(conform(table, unified), kept_path(stage_dir, shard))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (missing ones null), cast to its types."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _schema_clash(schemas: dict[str, pa.Schema], plan: Plan) -> str | None:
    seen: dict[str, tuple[pa.DataType, str]] = {}
    for shard, schema in schemas.items():
        rel = plan.files[int(shard[1:6])].rel
        for field in schema:
            if pa.types.is_null(field.type):
                continue
            if field.name in seen and not _compatible(seen[field.name][0], field.type):
                first_type, first_rel = seen[field.name]
                return (f"column {field.name!r} is {first_type} in {first_rel} but {field.type} in {rel}; "
                        "a column must keep one type across the input files.")
            seen.setdefault(field.name, (field.type, rel))
    return None


def _compatible(a: pa.DataType, b: pa.DataType) -> bool:
    numeric = (pa.types.is_integer, pa.types.is_floating)
    return a == b or (any(f(a) for f in numeric) and any(f(b) for f in numeric))
