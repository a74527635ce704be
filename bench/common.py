"""Small helpers the benchmark scripts share (run them as `python bench/NAME.py`, so that this
directory is on the import path): logging, JSONL files, the commit, and running a recipe and
reading its output back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["git_commit", "read_jsonl", "write_jsonl", "REPO", "log", "loadavg", "recipe_dict", "run_recipe", "Run",
           "read_records", "vectors", "cli_run", "write_recipe"]

REPO = Path(__file__).resolve().parent.parent
T0 = time.perf_counter()


def log(msg: str) -> None:
    """A progress line on stderr: the clock time and the seconds since the script started."""
    print(f"[{time.strftime('%H:%M:%S')} {time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def loadavg() -> float:
    """The machine's 1-minute load average (NaN where the OS has none): recorded before a timing."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def git_commit(short: bool = True) -> str:
    """The checkout's HEAD commit, or "unknown" outside a git checkout."""
    try:
        args = ["git", "rev-parse"] + (["--short"] if short else []) + ["HEAD"]
        return subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """One JSON object per line (UTF-8, not ASCII-escaped); makes the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


# --- thresher runs -------------------------------------------------------------------------------
def cli_run(recipe: Path, *flags: str) -> list[str]:
    """The command that runs ``recipe`` with this Python's ``thresher`` CLI, without progress bars
    (for a run measured as a process of its own)."""
    exe = Path(sys.executable).parent / "thresher"
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "thresher.cli"]
    return [*head, "run", str(recipe), "--no-progress", *flags]


def write_recipe(recipe: dict, path: Path) -> Path:
    """``recipe`` as a YAML file (JSON is YAML); makes the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recipe, indent=1) + "\n")
    return path


@dataclass
class Run:
    """A recipe run in this process: the recipe (a dict), its manifest and its wall seconds."""

    recipe: dict
    manifest: dict
    seconds: float

    @property
    def output_dir(self) -> Path:
        return Path(self.recipe["output"]["path"])


def recipe_dict(input_path: Path, out: Path, steps: list[dict], *, workers: int = 1, seed: int = 0,
                cache: Path | None = None, id_field: str | None = "id") -> dict:
    """A local recipe over a JSONL file with ``text`` (and ``id`` unless ``id_field`` is None)."""
    source = {"path": str(input_path), "text_field": "text"}
    if id_field:
        source["id_field"] = id_field
    executor: dict = {"kind": "local", "workers": workers}
    if cache is not None:
        executor["cache_dir"] = str(cache)
    return {"input": source, "output": {"path": str(out), "format": "parquet"}, "executor": executor,
            "seed": seed, "steps": steps}


def run_recipe(input_path: Path, out: Path, steps: list[dict], *, fresh: bool = True, progress: bool = False,
               **options) -> Run:
    """``thresher.run`` of ``recipe_dict(input_path, out, steps, **options)``, timed."""
    from thresher import Recipe, run

    recipe = recipe_dict(input_path, out, steps, **options)
    t0 = time.perf_counter()
    result = run(Recipe.from_dict(recipe), fresh=fresh, progress=progress)
    return Run(recipe, result.manifest, time.perf_counter() - t0)


def read_records(out: Path, columns: list[str] | None = None, *, removed: bool = True):
    """A run's kept (and removed) records sorted by id, and a mask of the kept ones."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from thresher import read_output

    kept = read_output(out, "kept", columns)
    parts = [kept] + ([read_output(out, "removed", columns)] if removed else [])
    table = pa.concat_tables(parts, promote_options="permissive")
    mask = np.r_[np.ones(kept.num_rows, bool), np.zeros(table.num_rows - kept.num_rows, bool)]
    order = pc.sort_indices(table.column("id")).to_numpy()
    return table.take(order), mask[order]


def vectors(cache: Path, key_column):
    """The vectors (float32 array) of a ``th_embedding_key`` column, from the embedding cache ``cache``."""
    from thresher.ops.base import OpContext
    from thresher.ops.embed.vectors import vectors_for

    return vectors_for(OpContext(cache_dir=Path(cache)), key_column)
