"""The run's metadata: what each task, stage and step counted, and the manifest built from them.

A task's stats (``rows_in``, ``kept``, per step ``in``/``removed``/``seconds``) add up into its
stage's stats (``merge_tasks``); the stages' steps add up into the manifest's per-step counts
(``step_summaries``); both go through one per-rule merge (``merge_steps``). The manifest is
written as ``out/manifest.json`` (its format is what every earlier version wrote) and read back
with ``load_manifest``; ``find_step``, ``step_info``, ``find_stage``, ``removed_counts`` and
``reused_stages`` are its common reads. A leaf module: reports, the CLI and the executors all
import it, it imports none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, TypedDict

from .errors import NotFoundError
from .exec.shards import read_json, write_json

try:
    from typing import NotRequired
except ImportError:  # Python 3.10
    from typing_extensions import NotRequired

__all__ = ["StepStats", "StageStats", "StepSummary", "StageSummary", "Counts", "Manifest", "MANIFEST",
           "merge_steps", "merge_tasks", "step_summaries", "stage_summary", "load_manifest", "read_manifest",
           "write_manifest", "find_step", "step_info", "find_stage", "removed_counts", "reused_stages"]

#: The manifest's file name in an output directory.
MANIFEST = "manifest.json"

#: One step's counts in one task or stage: records in, removed per rule, seconds, and what a
#: global op's ``decide`` reported (``info``: cluster sizes, cache hits...).
StepStats = TypedDict("StepStats", {"in": int, "removed": dict[str, int], "seconds": float,
                                    "info": NotRequired[dict]})

#: A step in the manifest: its counts over the run, and the op that ran it.
StepSummary = TypedDict("StepSummary", {
    "step": str, "in": int, "out": int, "removed": dict[str, int], "seconds": float, "info": NotRequired[dict],
    "op": str, "params": dict, "writes": list[str], "thresholds": dict})


class StageStats(TypedDict, total=False):
    """A stage's stats (its ``_SUCCESS.json``): the merged task stats plus what the executor adds."""

    rows_in: int
    kept: int
    steps: dict[str, StepStats]
    task_seconds: float
    peak_rss_bytes: int
    computed_units: int
    shards: Any  # ingest: a list of shard names; later stages: {shard: kept file}
    stage: str
    kind: str
    index: int
    fingerprint: str
    seconds: float
    status: str  # "computed" or "reused" (not stored in _SUCCESS.json)


class StageSummary(TypedDict):
    """A stage as the manifest lists it."""

    index: int
    stage: str
    kind: str
    status: str
    rows_in: int
    kept: int
    seconds: float
    task_seconds: float | None
    computed_units: int | None
    peak_rss_bytes: int | None
    fingerprint: str


class Counts(TypedDict):
    input: int
    kept: int
    removed: int


class Manifest(TypedDict, total=False):
    """``out/manifest.json``."""

    thresher_version: str
    python: str
    pyarrow: str
    recipe: dict
    seed: int
    workers: int
    inputs: list[dict]
    stages: list[StageSummary]
    steps: list[StepSummary]
    counts: Counts
    final_fingerprint: str
    published: bool
    seconds: float
    peak_rss_bytes: int
    #: What ``peak_rss_bytes`` counts (``exec.memory.MEANING``).
    peak_rss_counts: str
    estimate: dict
    cluster: dict
    eval: dict


def merge_steps(parts: Iterable[Mapping[str, StepStats]]) -> dict[str, StepStats]:
    """Add up per-step stats (records in, removed per rule, seconds); the last ``info`` wins.

    >>> a = {"length": {"in": 10, "removed": {"too short": 2}, "seconds": 1.0}}
    >>> b = {"length": {"in": 5, "removed": {"too short": 1, "too long": 1}, "seconds": 0.5}}
    >>> merge_steps([a, b])["length"]
    {'in': 15, 'removed': {'too short': 3, 'too long': 1}, 'seconds': 1.5}
    """
    steps: dict[str, StepStats] = {}
    for part in parts:
        for name, s in part.items():
            agg = steps.setdefault(name, {"in": 0, "removed": {}, "seconds": 0.0})
            agg["in"] += s["in"]
            agg["seconds"] += s.get("seconds", 0.0)
            for rule, n in s["removed"].items():
                agg["removed"][rule] = agg["removed"].get(rule, 0) + n
            if s.get("info"):
                agg["info"] = s["info"]
    return steps


def merge_tasks(stats: list[dict], *, computed: int) -> StageStats:
    """A stage's stats from its tasks' stats; ``computed``: how many tasks ran now (not resumed)."""
    return {
        "rows_in": sum(st["rows_in"] for st in stats),
        "kept": sum(st["kept"] for st in stats),
        "steps": merge_steps(st.get("steps", {}) for st in stats),
        "task_seconds": sum(st.get("seconds", 0.0) for st in stats),
        "peak_rss_bytes": max((st.get("maxrss_bytes", 0) for st in stats), default=0),
        "computed_units": computed,
    }


def step_summaries(metas: list[StageStats]) -> list[dict]:
    """Per step, in recipe order: records in, out, removed per rule, seconds and ``info``
    (the manifest's ``steps`` before the runner adds each step's op)."""
    merged: dict[str, StepStats] = {}
    for meta in metas:
        for name, stats in merge_steps([meta.get("steps", {})]).items():
            if name in merged:  # a step of two stages (the input: read, then its ids checked) counts its records once
                first_in = merged[name]["in"]
                merged[name] = merge_steps([{name: merged[name]}, {name: stats}])[name]
                merged[name]["in"] = first_in
            else:
                merged[name] = stats
    return [{"step": name, **s, "out": s["in"] - sum(s["removed"].values())} for name, s in merged.items()]


def stage_summary(meta: StageStats) -> StageSummary:
    """A stage's entry in the manifest (a reused stage computed nothing now)."""
    keys = ("index", "stage", "kind", "status", "rows_in", "kept", "seconds", "task_seconds",
            "computed_units", "peak_rss_bytes", "fingerprint")
    out = {k: meta.get(k) for k in keys}
    if meta.get("status") == "reused":
        out["computed_units"] = 0
    return out  # type: ignore[return-value]


def read_manifest(out: Path) -> Manifest | None:
    """The manifest in ``out``, or None when there is none (or it is unreadable)."""
    return read_json(Path(out) / MANIFEST)  # type: ignore[return-value]


def load_manifest(out: Path) -> Manifest:
    """The manifest of a finished run, or a ``NotFoundError``."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise NotFoundError(f"{out} holds no {MANIFEST}: is it the output directory of a finished run?")
    return json.loads(path.read_text())


def write_manifest(out: Path, manifest: Manifest) -> Path:
    """Write ``out/manifest.json`` atomically; return its path."""
    path = Path(out) / MANIFEST
    write_json(path, manifest)  # type: ignore[arg-type]
    return path


def find_step(manifest: Manifest, step: str) -> StepSummary:
    """The manifest's entry for ``step`` (a step name), or a ``NotFoundError`` naming the steps."""
    for s in manifest["steps"]:
        if s["step"] == step:
            return s
    raise NotFoundError(f"the run has no step {step!r}; its steps: {[s['step'] for s in manifest['steps']]}")


def step_info(manifest: Manifest, step: str) -> dict:
    """What ``step``'s op reported (cluster sizes, cache hits, sweeps...): ``{}`` if nothing."""
    return find_step(manifest, step).get("info") or {}


def find_stage(manifest: Manifest, stage: str) -> StageSummary:
    """The manifest's entry for the stage named ``stage``, or a ``NotFoundError``."""
    for s in manifest["stages"]:
        if s["stage"] == stage:
            return s
    raise NotFoundError(f"the run has no stage {stage!r}; its stages: {[s['stage'] for s in manifest['stages']]}")


def removed_counts(manifest: Manifest) -> dict[tuple[str, str], int]:
    """Records removed per ``(step, rule)``, in step order."""
    return {(s["step"], rule): n for s in manifest["steps"] for rule, n in s["removed"].items()}


def reused_stages(manifest: Manifest) -> int:
    """How many of the run's stages were reused from an earlier run."""
    return sum(1 for s in manifest["stages"] if s["status"] == "reused")
