"""The planner: cut the steps into stages, fingerprint them, estimate memory and disk.

Stage 0 ingests the input files into Parquet shards. Each global op is a stage of its own;
row-local steps are one stage each (so editing one recomputes only from it on), or, with
``executor.fuse_row_steps``, one stage per run of consecutive row-local steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__
from ..errors import InputError, ResourceError
from ..io.files import content_hash, is_hf_dataset_dir, list_input_files
from ..io.probe import probe_input
from ..recipe import Recipe, Step
from .memory import MEANING
from .prerequisites import check_prerequisites

__all__ = ["Stage", "Plan", "make_plan", "InputFile"]

_EXPANSION = {".gz": 4.0, ".zst": 5.0, ".parquet": 3.0, ".arrow": 1.0, ".tar": 0.02}
#: An image's record: its reference, size, hashes and quality measures (not its pixels).
_IMAGE_RECORD_BYTES = 400.0
#: Measured on the bundled sample (examples/default.yaml, 2 workers, 2026-12-03 at e01f133): the
#: summed RSS peaked at 797-816 MiB while the stages ran (main 310, fork server 119, resource
#: tracker 12, workers 176-178 MiB each), above the eval that follows them; the estimate gives 838.
_WORKER_BASE_MB = 185
_MAIN_BASE_MB = 310
#: The fork server that the local executor's workers come from, and multiprocessing's resource tracker.
_FORK_SERVER_MB = 130


@dataclass(frozen=True)
class InputFile:
    """An input file (or HF dataset directory): ``xxh3`` is the xxh3-128 of its content."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    xxh3: str


@dataclass
class Stage:
    index: int
    kind: str  # "ingest" | "row" | "global"
    steps: list[Step]
    fingerprint: str

    @property
    def name(self) -> str:
        return "ingest" if self.kind == "ingest" else "+".join(s.name for s in self.steps)

    @property
    def dirname(self) -> str:
        return f"{self.index:02d}-{self.name[:60]}-{self.fingerprint[:12]}"


@dataclass
class Plan:
    recipe: Recipe
    files: list[InputFile]
    stages: list[Stage]
    workers: int
    shard_rows: int
    estimate: dict = field(default_factory=dict)

    @property
    def work_dir(self) -> Path:
        return self.recipe.output_dir / "_work"

    @property
    def cache_dir(self) -> Path:
        return self.recipe.cache_dir

    def stage_dir(self, stage: Stage) -> Path:
        return self.work_dir / stage.dirname

    def describe(self) -> str:
        """Human text: the stages, the columns global ops hold, the estimates."""
        est = self.estimate
        lines = [f"input: {len(self.files)} file(s), {_mb(est['input_bytes'])} on disk, "
                 f"~{est['records']:,} records (estimated)",
                 f"workers: {self.workers}, shard_rows: {self.shard_rows}", "stages:"]
        for stage in self.stages:
            kind = {"ingest": "read input", "row": "row-local", "global": "global"}[stage.kind]
            lines.append(f"  {stage.index:2d}. {stage.name:<40} {kind}")
            for step in stage.steps:
                if stage.kind == "global":
                    lines.append(f"        holds: {step.op.holds()}")
        if self.recipe.eval is not None:
            lines.append(f"eval: {self.recipe.eval.features} probe, holds {_mb(est['eval_bytes'])}")
        lines.append(f"estimated peak memory ({MEANING}): {_mb(est['memory_bytes'])} "
                     f"(available {_mb(est['memory_available'])})")
        pending = len(self.pending_stages())
        done = "" if pending == len(self.stages) else f"; {len(self.stages) - pending} of {len(self.stages)} stages " \
            "done, reused"
        lines.append(f"estimated disk: {_mb(self.new_disk_bytes())} to write{done} (free {_mb(est['disk_free'])})")
        return "\n".join(lines)

    def pending_stages(self) -> list[Stage]:
        """The stages not complete yet (a complete one has its ``_SUCCESS.json`` and is reused)."""
        from .shards import SUCCESS

        return [s for s in self.stages if not (self.stage_dir(s) / SUCCESS).is_file()]

    @property
    def final_fingerprint(self) -> str:
        """What the published output is of: the last stage's fingerprint and the output format."""
        return f"{self.stages[-1].fingerprint}:{self.recipe.output.format}"

    def is_published(self, manifest: dict | None) -> bool:
        """Whether the output directory (with ``manifest``, its manifest) holds this plan's kept/ and removed/."""
        return (manifest or {}).get("final_fingerprint") == self.final_fingerprint \
            and (self.recipe.output_dir / "kept").is_dir()

    def new_disk_bytes(self) -> int:
        """Disk the run will write now: a copy of the records per stage not yet complete, and one
        for the published kept/ and removed/ unless they are already this plan's."""
        from ..manifest import read_manifest

        pending = len(self.pending_stages())
        published = self.is_published(read_manifest(self.recipe.output_dir))
        return self.estimate["stage_bytes"] * (pending + (0 if published and not pending else 1))


def make_plan(recipe: Recipe, *, workers: int | None = None) -> Plan:
    """Resolve the input files, cut the stages, fingerprint them and estimate resources."""
    files = _input_files(recipe)
    check_prerequisites(recipe, [f.path for f in files])
    n_workers = workers or _resolve_workers(recipe.executor.workers)
    if recipe.input.format == "images":  # one record per file, of its reference and signals
        records, record_bytes = len(files), _IMAGE_RECORD_BYTES
    else:
        record_bytes = _sample_record_bytes(files[0].path) if files else 1000.0
        records = max(1, int(sum(f.size * _expansion(f.path) for f in files) / record_bytes))
    shard_rows = _resolve_shard_rows(recipe.executor.shard_rows, records)
    stages = _cut_stages(recipe, files, shard_rows)
    plan = Plan(recipe, files, stages, n_workers, shard_rows)
    plan.estimate = _estimate(plan, records, record_bytes)
    return plan


def _resolve_shard_rows(shard_rows: int | str, records: int) -> int:
    """``auto``: about 1/16 of the (estimated) input, between 1,000 and 10,000 records, so that
    small inputs still spread over the workers. It depends on the input only, never on the
    worker count, so changing ``--workers`` reuses every finished stage."""
    if shard_rows != "auto":
        return int(shard_rows)
    return min(10_000, max(1_000, -(-records // 16)))


def check_fits(plan: Plan) -> None:
    """Refuse a plan whose estimate exceeds the machine, saying what to change."""
    est = plan.estimate
    if est["memory_bytes"] > est["memory_available"]:
        by_eval = est.get("eval_bytes", 0) + _MAIN_BASE_MB * 2**20 >= est["memory_bytes"]
        fix = "use eval features: tfidf, or drop the eval section and run `thresher eval` on a larger machine" \
            if by_eval else "lower executor.workers or executor.shard_rows"
        raise ResourceError(
            f"estimated peak memory {_mb(est['memory_bytes'])} ({'the eval' if by_eval else 'the stages'}; {MEANING}) "
            f"exceeds the {_mb(est['memory_available'])} available: {fix}, or run on a larger machine.")
    disk = plan.new_disk_bytes()
    if disk > est["disk_free"]:
        fuse = "" if plan.recipe.executor.fuse_row_steps or sum(s.kind == "row" for s in plan.pending_stages()) < 2 \
            else "set executor.fuse_row_steps: true, or "
        raise ResourceError(
            f"estimated disk use {_mb(disk)} exceeds the {_mb(est['disk_free'])} free under "
            f"{plan.recipe.output_dir}: {fuse}choose an output on a larger disk.")


def _input_files(recipe: Recipe) -> list[InputFile]:
    """The input files, each checked at its start (``probe_input``) and hashed by content."""
    images = recipe.input.format == "images"
    paths = list_input_files(recipe.input.path, recipe.base_dir, images=images)
    out = recipe.output_dir
    paths = [p for p in paths if p != out and out not in p.parents]  # a run never reads its own output
    if not paths:
        raise InputError(f"input {recipe.input.path!r} holds only files of the output directory {out}.")
    root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in paths]))
    given = [(recipe.base_dir / p).resolve() for p in recipe.input.path]
    if images and all(p.is_dir() for p in given):  # an image's id is its path under the input directory
        root = Path(os.path.commonpath(given))
    rels = [str(path.relative_to(root)) if path != root else path.name for path in paths]
    for path, rel in zip(paths, rels):
        if images:
            break
        probe_input(path, rel, text_field=recipe.input.text_field, id_field=recipe.input.id_field,
                    columns=recipe.input.columns)
    with ThreadPoolExecutor(min(8, len(paths))) as pool:  # file reads and xxh3 release the GIL
        hashes = list(pool.map(content_hash, paths))
    files = []
    for path, rel, digest in zip(paths, rels, hashes):
        stat = path.stat()
        size = _dir_size(path) if is_hf_dataset_dir(path) else stat.st_size
        files.append(InputFile(path, rel, size, stat.st_mtime_ns, digest))
    return files


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _resolve_workers(workers: int | str) -> int:
    if workers == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover
            return os.cpu_count() or 1
    return int(workers)


def _cut_stages(recipe: Recipe, files: list[InputFile], shard_rows: int) -> list[Stage]:
    from .unique_ids import UniqueIds

    groups: list[tuple[str, list[Step]]] = [("ingest", []),
                                            ("global", [Step("input", UniqueIds(on_error=recipe.input.on_error))])]
    for step in recipe.steps:
        if step.op.kind == "global":
            groups.append(("global", [step]))
        elif recipe.executor.fuse_row_steps and groups[-1][0] == "row":
            groups[-1][1].append(step)
        else:
            groups.append(("row", [step]))
    base = {
        "version": __version__,
        "inputs": [(f.rel, f.size, f.xxh3) for f in files],
        "input": vars(recipe.input),
        "shard_rows": shard_rows,
        "seed": recipe.seed,
    }
    stages, chain = [], []
    for index, (kind, steps) in enumerate(groups):
        chain.extend([s.name, s.op.name, s.op.config(), *_file_signatures(s.op)] for s in steps)
        blob = json.dumps({**base, "steps": chain}, sort_keys=True, default=str)
        stages.append(Stage(index, kind, steps, hashlib.sha256(blob.encode()).hexdigest()))
    return stages


def _file_signatures(op) -> list:
    """``[[(path, xxh3 of the content), ...]]`` of the files the op reads besides the records,
    or ``[]`` when it reads none (so that such steps keep their fingerprints)."""
    files = op.input_files()
    if not files:
        return []
    return [[(str(f), content_hash(f) if f.exists() else None) for f in files]]


def _estimate(plan: Plan, records: int, record_bytes: float) -> dict:
    input_bytes = sum(f.size for f in plan.files)
    raw_bytes = records * record_bytes
    shard_bytes = min(records, plan.shard_rows) * record_bytes
    worker = _WORKER_BASE_MB * 2**20 + 4 * shard_bytes
    global_state = max((s.op.memory_bytes(records, record_bytes) for st in plan.stages for s in st.steps
                        if st.kind == "global"), default=0)
    pool = plan.workers * worker + (_FORK_SERVER_MB * 2**20 if plan.workers > 1 else 0)
    stages = _MAIN_BASE_MB * 2**20 + pool + global_state
    eval_bytes = 0
    if plan.recipe.eval is not None:
        from ..evaluation import memory_bytes

        eval_bytes = memory_bytes(plan.recipe.eval, records, record_bytes)
    memory = max(stages, _MAIN_BASE_MB * 2**20 + eval_bytes)  # the eval runs once the workers are gone
    stage_bytes = int(raw_bytes * 0.35)  # one copy of the records as compressed Parquet
    disk = stage_bytes * (len(plan.stages) + 1)
    out = plan.recipe.output_dir
    probe = next((p for p in [out, *out.parents] if p.exists()), Path("/"))
    import psutil

    return {
        "input_bytes": input_bytes,
        "records": records,
        "record_bytes": int(record_bytes),
        "memory_bytes": int(memory),
        "eval_bytes": int(eval_bytes),
        "memory_available": int(psutil.virtual_memory().available),
        "disk_bytes": disk,
        "stage_bytes": stage_bytes,
        "disk_free": int(shutil.disk_usage(probe).free),
    }


def _expansion(path: Path) -> float:
    if path.is_dir():
        return 1.0
    return next((v for k, v in _EXPANSION.items() if path.name.lower().endswith(k)), 1.0)


def _sample_record_bytes(path: Path) -> float:
    """Mean bytes per record over the first records of a JSONL/CSV file (1000 for others)."""
    from ..io.decode import DECOMPRESS_ERRORS, open_binary
    from ..io.files import detect_format

    if path.is_dir() or detect_format(path) not in ("jsonl", "csv"):
        return 1000.0
    sizes = []
    try:
        with open_binary(path, path.name) as handle:
            for line in handle:
                sizes.append(len(line))
                if len(sizes) >= 1000:
                    break
    except DECOMPRESS_ERRORS:  # a file truncated after its first lines: the reader names it
        pass
    return max(1.0, sum(sizes) / max(1, len(sizes)))


def _mb(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
