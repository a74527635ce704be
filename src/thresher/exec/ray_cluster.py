"""The Ray executor: the local executor's stages and tasks, each task a Ray task on a cluster.

Every task (ingest a file range, run the row-local steps on a shard, extract a global op's keys
from a shard, apply its decisions to a shard) is the very function the local executor runs in
its process pool, so the output is the same, file for file. A task writes its files
atomically and its stats file last, so a task that Ray retries after its worker died, or that
a restarted driver finds done, is never counted twice; a killed driver resumes from the
finished stages and shards like a local run.

A global op's ``decide`` runs on the driver, and hands its heavy parts to the cluster through
``OpContext.map`` (``distributed`` is true): MinHash's bucket shuffle, linking and connected
components, the embed op's encoding, SemDeDup's clusters. The stage directories and the cache
directory must be on a file system that every node sees at the same path (one machine, NFS, a
mounted bucket).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterable

from ..errors import ResourceError, require
from .local import LocalExecutor
from .plan import Plan
from .tasks import run_task

__all__ = ["RayExecutor"]

log = logging.getLogger("thresher.exec.ray")

#: Retries of a task whose worker process died (killed, out of memory, node lost).
MAX_RETRIES = 3


def _ray():
    return require("ray", "executor.kind ray needs Ray: pip install 'thresher[ray]'")


class RayExecutor(LocalExecutor):
    """Runs a plan's tasks on a Ray cluster (``executor.address``), or on a Ray instance it
    starts on this machine with ``plan.workers`` CPUs when no address is given."""

    distributed = True

    def __init__(self, plan: Plan, *, progress: bool | None = None) -> None:
        super().__init__(plan, progress=progress)
        self.cluster: dict = {}
        self._remote = None
        self._call = None

    def run(self) -> list[dict]:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            address = self.plan.recipe.executor.address
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            kwargs = {"num_cpus": self.plan.workers} if address is None else {"address": address}
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **kwargs)
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            self.cluster = {"kind": "ray", "nodes": len(nodes), "cpus": int(ray.cluster_resources().get("CPU", 0))}
            self._remote = ray.remote(run_task).options(num_cpus=1, max_retries=MAX_RETRIES)
            self._call = ray.remote(_call).options(num_cpus=1, max_retries=MAX_RETRIES)
            return super().run()
        finally:
            if started:
                ray.shutdown()

    def _execute(self, tasks: list, threads: bool = False) -> Iterable[tuple[object, dict]]:
        if not tasks:
            return
        ray = _ray()
        refs = {self._remote.remote(task): task for task in tasks}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], self._result(ray, ref, f"shard {refs[ref].unit}")
        finally:
            for ref in pending:
                ray.cancel(ref)

    def _warm_up(self) -> None:
        """Nothing to warm here: every task runs on the cluster."""

    def _decide_mapper(self):
        return self._map_items

    def _map_items(self, fn, items: list) -> list:
        """``[fn(item) for item in items]`` as Ray tasks (retried like the stage tasks), with a
        progress bar of the tasks done."""
        from tqdm import tqdm

        ray = _ray()
        refs = [self._call.remote(fn, item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(refs)
        pending = list(refs)
        bar = tqdm(total=len(refs), desc=f"  {fn.__name__}", unit="task", disable=not self.progress,
                   dynamic_ncols=True, file=sys.stderr)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    results[index[ref]] = self._result(ray, ref, f"{fn.__name__} item {index[ref]}")
                    bar.update(1)
        finally:
            bar.close()
            for ref in pending:
                ray.cancel(ref)
        return results

    @staticmethod
    def _result(ray, ref, what: str):
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task raised: re-raise what it raised
            raise exc.cause if isinstance(exc.cause, Exception) else exc from None
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError) as exc:
            raise ResourceError(
                f"Ray lost the workers running {what} {MAX_RETRIES + 1} times ({type(exc).__name__}). "
                "Run the same command again to resume; if it recurs, lower executor.shard_rows or add memory.") from exc

    def _close_pool(self) -> None:
        """Nothing to close: the cluster's workers stay up between phases."""


def _call(fn, item):
    """A Ray task running one item of ``OpContext.map``."""
    return fn(item)
