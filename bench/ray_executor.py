"""Throughput of the Ray executor against the local executor on this machine, 1 and 2 workers,
on one recipe (heuristics, exact and MinHash dedup), each run fresh in its own process, and the
per-record cost of every stage (task CPU seconds per record) that the capacity plan scales.

    python bench/ray_executor.py [--data bench/.data/docs100k.jsonl] [--repeat 1]

Ray runs on this machine (`executor: {kind: ray}` without an address starts it with `workers`
CPUs); its start-up is part of the wall time, as it is for a user.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

from common import git_commit
from measure import measure

HERE = Path(__file__).resolve().parent
STEPS = [{"normalize": {}}, {"language": {"keep": None, "min_score": 0.0}}, {"length": {"min_words": 5}},
         {"gopher_quality": {}}, {"gopher_repetition": {}}, {"fineweb_quality": {}}, {"dedup_exact": {}},
         {"dedup_minhash": {"threshold": 0.8}}]


def run_once(data: Path, kind: str, workers: int, out: Path) -> dict:
    recipe = out.parent / f"{out.name}.yaml"
    recipe.write_text(yaml.safe_dump({"input": {"path": str(data.resolve())}, "output": {"path": str(out)},
                                      "executor": {"kind": kind, "workers": workers}, "steps": STEPS}))
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    if kind == "ray":
        private = tempfile.mkdtemp(prefix="thresher-ray-bench-")
        env.update(RAY_TMPDIR=private, HOME=private)
    cmd = [sys.executable, "-m", "thresher.cli", "run", str(recipe), "--fresh", "--no-progress"]
    result = measure(cmd, env=env, stdout=subprocess.DEVNULL)
    if kind == "ray":
        _kill_leftovers(private)
    assert result["returncode"] == 0, result
    manifest = json.loads((out / "manifest.json").read_text())
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
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    base = HERE / "out" / "ray_executor"
    base.mkdir(parents=True, exist_ok=True)
    rows, kept = [], {}
    for workers in (1, 2):
        for kind in ("local", "ray"):
            best = None
            for _ in range(args.repeat):
                r = run_once(args.data, kind, workers, base / f"{kind}-{workers}")
                best = r if best is None or r["seconds"] < best["seconds"] else best
            m = best["manifest"]
            kept[(kind, workers)] = m["counts"]["kept"]
            rows.append((kind, workers, m["counts"]["input"], best["seconds"], best["peak_rss_mib"], m))
    local = {w: s for k, w, _, s, _, _ in rows if k == "local"}
    print(f"Date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; commit {git_commit()}; "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"Command: `python bench/ray_executor.py --data {args.data} --repeat {args.repeat}`\n")
    print("| executor | workers | docs | wall s | docs/s | vs local, same workers | peak RSS MiB (tree) | kept |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, workers, n, seconds, rss, m in rows:
        print(f"| {kind} | {workers} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | "
              f"{local[workers] / seconds:.2f}x | {rss:,.0f} | {m['counts']['kept']:,} |")
    same = len(set(kept.values())) == 1
    print(f"\nSame kept count in every run: {same}.")
    print("\nPer-record cost by stage (local, 2 workers: task CPU seconds per 1M records in, and wall seconds):\n")
    print("| stage | records in | task s / 1M records | stage wall s |\n|---|---:|---:|---:|")
    m = next(r[5] for r in rows if r[0] == "local" and r[1] == 2)
    for s in m["stages"]:
        per = 1e6 * (s["task_seconds"] or 0) / max(s["rows_in"] or 1, 1)
        print(f"| {s['stage']} | {s['rows_in'] or 0:,} | {per:,.1f} | {s['seconds'] or 0:.2f} |")


if __name__ == "__main__":
    main()
