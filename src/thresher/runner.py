"""``run``: plan, execute, publish, audit, and write the manifest, report and card."""

from __future__ import annotations

import platform
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ._version import __version__
from .exec.ledger import check_invariant, publish
from .exec.lifeline import raise_if_interrupted
from .exec.local import LocalExecutor, start_fork_server
from .exec.memory import MEANING, PeakMemory
from .exec.outdir import OutputLock, claim, is_stage_dir_name, remove_owned
from .exec.plan import Plan, check_fits, make_plan
from .manifest import Counts, Manifest, load_manifest, read_manifest, stage_summary, step_summaries, write_manifest
from .recipe import Recipe

__all__ = ["run", "RunResult", "load_manifest"]


@dataclass
class RunResult:
    """What a run produced: the output directory and its manifest."""

    output_dir: Path
    manifest: Manifest

    @property
    def counts(self) -> Counts:
        return self.manifest["counts"]

    def summary(self) -> str:
        """A plain-text table: records in, kept, removed by step and reason, time, report path."""
        from .report.summary import summary_table

        return summary_table(self.manifest, self.output_dir)


def run(recipe: Recipe | dict | str | Path, *, workers: int | None = None, fresh: bool = False,
        progress: bool | None = None) -> RunResult:
    """Run ``recipe`` (a ``Recipe``, its dict form or a YAML path); resume from the work dir unless ``fresh``.

    Returns a ``RunResult``; raises a ``ThresherError`` subclass on bad recipes or input.
    """
    if isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    elif not isinstance(recipe, Recipe):
        recipe = Recipe.from_yaml(recipe)
    start = time.perf_counter()
    memory = PeakMemory()
    if recipe.executor.kind == "local" and (workers or recipe.executor.workers) != 1:
        start_fork_server()  # its imports overlap the planning
    plan = make_plan(recipe, workers=workers)
    out = recipe.output_dir
    claim(out)
    with OutputLock(out):
        if fresh:
            remove_owned(out)
        check_fits(plan)
        manifest = _execute(plan, progress, start, memory)
    return RunResult(out, manifest)


def _execute(plan: Plan, progress: bool | None, start: float, memory: PeakMemory) -> dict:
    """Run the stages, publish, audit, and write the manifest and documents (the lock is held)."""
    recipe = plan.recipe
    out = recipe.output_dir
    executor = _executor(plan, progress)
    metas = executor.run()
    raise_if_interrupted()
    final_fp = plan.final_fingerprint
    previous = read_manifest(out) or {}
    republish = not plan.is_published(previous)
    if republish:
        publish(plan, metas)
    counts = check_invariant(plan, metas)
    manifest = _manifest(plan, metas, counts, final_fp, time.perf_counter() - start, republish)
    manifest["cluster"] = getattr(executor, "cluster", None) or {"kind": "local", "nodes": 1, "cpus": plan.workers}
    if recipe.eval is not None:
        manifest["eval"] = _evaluation(recipe, previous, final_fp)
    manifest.update(peak_rss_bytes=max(manifest["peak_rss_bytes"], memory.stop()), peak_rss_counts=MEANING)
    write_manifest(out, manifest)
    write_documents(out, manifest)
    _collect_garbage(plan)
    return manifest


def _executor(plan: Plan, progress: bool | None) -> LocalExecutor:
    if plan.recipe.executor.kind == "ray":
        from .exec.ray_cluster import RayExecutor

        return RayExecutor(plan, progress=progress)
    return LocalExecutor(plan, progress=progress)


def _manifest(plan: Plan, metas: list[dict], counts: dict, final_fp: str, seconds: float, published: bool) -> Manifest:
    recipe = plan.recipe
    steps = step_summaries(metas)
    ops = {s.name: s.op for s in recipe.steps}
    for step in steps:
        op = ops.get(step["step"])
        step["op"] = op.name if op else step["step"]
        step["params"] = op.config() if op else {}
        step["writes"] = list(op.writes) if op else []
        step["thresholds"] = op.threshold_values() if op else {}
    return {
        "thresher_version": __version__,
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "recipe": recipe.to_dict(),
        "seed": recipe.seed,
        "workers": plan.workers,
        "inputs": [{"path": f.rel, "bytes": f.size, "mtime_ns": f.mtime_ns, "xxh3": f.xxh3} for f in plan.files],
        "stages": [stage_summary(m) for m in metas],
        "steps": steps,
        "counts": counts,
        "final_fingerprint": final_fp,
        "published": published,
        "seconds": seconds,
        "peak_rss_bytes": max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]
                              + [m.get("peak_rss_bytes", 0) for m in metas]),
        "estimate": plan.estimate,
    }


def _evaluation(recipe: Recipe, previous: dict, final_fp: str) -> dict:
    """The recipe's evaluation: reused when the output and the eval settings are unchanged."""
    from .evaluation import evaluate

    config = recipe.eval.to_dict()
    old = previous.get("eval")
    if old and old.get("config") == config and previous.get("final_fingerprint") == final_fp:
        return old
    return evaluate(recipe.output_dir, recipe.eval, recipe.seed, recipe.cache_dir)


def write_documents(out: Path, manifest: Manifest) -> None:
    """``report.html`` and the dataset card ``README.md`` from the manifest."""
    from .report.card import write_card
    from .report.html import write_report
    from .report.stats import output_distributions

    stats = output_distributions(out, manifest)  # read once, shown by both
    write_report(out, manifest, stats)
    write_card(out, manifest, stats)


def _collect_garbage(plan: Plan) -> None:
    """Delete stage directories that no longer belong to the recipe (edited steps)."""
    live = {plan.stage_dir(s).name for s in plan.stages}
    if plan.work_dir.exists():
        for child in plan.work_dir.iterdir():
            if child.is_dir() and is_stage_dir_name(child.name) and child.name not in live:
                shutil.rmtree(child, ignore_errors=True)
