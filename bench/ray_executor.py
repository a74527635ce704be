"""Throughput of the Ray executor against the local executor on this machine, 1 and 2 workers,
each run fresh in its own process, and the per-record cost of every stage (task CPU seconds per
record, and the wall time of global ops' decide) that the capacity plan in docs/scaling.md scales.

    python bench/ray_executor.py [--data bench/.data/docs100k.jsonl] [--recipe text|full] [--repeat 1]

``text``: heuristics, exact and MinHash dedup; ``minhash``: MinHash dedup alone. ``full`` adds
static embeddings, SemDeDup, hierarchical k-means and balanced sampling (each run encodes: its
embedding cache is its own).

Ray runs on this machine (`executor: {kind: ray}` without an address starts it with `workers`
CPUs); its start-up is part of the wall time, as it is for a user.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from common import cli_run, git_commit, write_recipe
from measure import measure
from thresher.manifest import load_manifest
from thresher.paths import default_cache_dir

HERE = Path(__file__).resolve().parent
TEXT = [{"normalize": {}}, {"language": {"keep": None, "min_score": 0.0}}, {"length": {"min_words": 5}},
        {"gopher_quality": {}}, {"gopher_repetition": {}}, {"fineweb_quality": {}}, {"dedup_exact": {}},
        {"dedup_minhash": {"threshold": 0.8}}]
RECIPES = {"text": TEXT, "minhash": [{"dedup_minhash": {"threshold": 0.8}}],
           "full": TEXT + [{"embed": {"model": "static"}}, {"dedup_semantic": {"eps": 0.05}},
                           {"hierarchical_kmeans": {}}, {"sample_balanced": {"fraction": 0.5}}]}


def run_once(data: Path, kind: str, workers: int, out: Path, steps: list) -> dict:
    cache = out.parent / f"{out.name}-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    (cache / "models").symlink_to(Path(default_cache_dir()) / "models", target_is_directory=True)
    recipe = write_recipe({"input": {"path": str(data.resolve())}, "output": {"path": str(out)},
                           "executor": {"kind": kind, "workers": workers, "cache_dir": str(cache)},
                           "steps": steps}, out.parent / f"{out.name}.yaml")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    if kind == "ray":
        private = tempfile.mkdtemp(prefix="thresher-ray-bench-")
        env.update(RAY_TMPDIR=private, HOME=private)
    result = measure(cli_run(recipe, "--fresh"), env=env, stdout=subprocess.DEVNULL)
    if kind == "ray":
        _kill_leftovers(private)
    assert result["returncode"] == 0, result
    manifest = load_manifest(out)
    return {"seconds": result["seconds"], "peak_rss_mib": result["peak_rss_bytes"] / 2**20, "manifest": manifest}


def _kill_leftovers(marker: str) -> None:
    """Ray's agents can outlive the driver and ignore SIGTERM: kill what names our temp dir."""
    import signal

    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / ".data" / "docs100k.jsonl")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="text")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    base = HERE / "out" / f"ray_executor-{args.recipe}"
    base.mkdir(parents=True, exist_ok=True)
    rows, kept = [], {}
    for workers in args.workers:
        for kind in ("local", "ray"):
            best = None
            for _ in range(args.repeat):
                r = run_once(args.data, kind, workers, base / f"{kind}-{workers}", RECIPES[args.recipe])
                best = r if best is None or r["seconds"] < best["seconds"] else best
            m = best["manifest"]
            kept[(kind, workers)] = m["counts"]["kept"]
            rows.append((kind, workers, m["counts"]["input"], best["seconds"], best["peak_rss_mib"], m))
    local = {w: s for k, w, _, s, _, _ in rows if k == "local"}
    print(f"Date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; commit {git_commit()}; "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"Command: `python bench/ray_executor.py --data {args.data} --recipe {args.recipe} "
          f"--repeat {args.repeat} --workers {' '.join(map(str, args.workers))}`\n")
    print("| executor | workers | docs | wall s | docs/s | vs local, same workers | peak RSS MiB (tree) | kept |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, workers, n, seconds, rss, m in rows:
        print(f"| {kind} | {workers} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | "
              f"{local[workers] / seconds:.2f}x | {rss:,.0f} | {m['counts']['kept']:,} |")
    same = len(set(kept.values())) == 1
    print(f"\nSame kept count in every run: {same}.")
    for kind in ("local", "ray"):
        m = next(r[5] for r in rows if r[0] == kind and r[1] == max(args.workers))
        print(f"\nPer-record cost by stage ({kind}, {max(args.workers)} workers): task CPU seconds per 1M "
              "records in (shard tasks: ingest, row steps, a global op's keys and apply), and the stage's "
              "wall seconds (for a global op, with its decide):\n")
        print("| stage | records in | task s / 1M records | stage wall s | decide |\n|---|---:|---:|---:|---|")
        for s in m["stages"]:
            per = 1e6 * (s["task_seconds"] or 0) / max(s["rows_in"] or 1, 1)
            step = next((x for x in m["steps"] if x["step"] == s["stage"]), {})
            print(f"| {s['stage']} | {s['rows_in'] or 0:,} | {per:,.1f} | {s['seconds'] or 0:.2f} | "
                  f"{_decide_info(step.get('info') or {})} |")
    with open(args.data, encoding="utf-8") as f:
        sizes = [len(json.loads(line)["text"].encode()) for line in f]
    print(f"\nInput text: {sum(sizes) / len(sizes):,.0f} bytes per record ({sum(sizes) / 2**20:,.1f} MiB).")


def _decide_info(info: dict) -> str:
    keys = ("decide_seconds", "partitions", "scatter_tasks", "candidate_links", "verified_links", "encoded",
            "encoded_per_second", "k", "levels")
    return ", ".join(f"{k} {info[k]}" for k in keys if k in info)


if __name__ == "__main__":
    main()
