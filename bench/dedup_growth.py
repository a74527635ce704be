#!/usr/bin/env python3
"""Memory growth of ``dedup_minhash`` with corpus size, with and without a memory budget.

For each corpus (built by ``bench/dedup_corpus.py``: 50k, 200k, 1M documents) it runs thresher
with one step ``dedup_minhash`` on 2 workers, once with the default budget (a quarter of the
available memory: everything stays in memory) and once with ``memory_mb`` set, and prints the
peak RSS of the main process (where ``decide`` runs: the part the budget bounds) and of the
whole process tree, wall time and docs/s.

    .venv/bin/python bench/dedup_growth.py --budget 256 \\
        bench/.data/dedup50k bench/.data/dedup200k bench/.data/dedup1m
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from common import cli_run, write_recipe
from thresher.manifest import load_manifest

HERE = Path(__file__).resolve().parent


def run(corpus: Path, budget: int | None, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dedup-growth-") as tmp:
        step = {"memory_mb": budget} if budget else {}
        recipe = write_recipe({"input": {"path": str(corpus / "corpus.jsonl")},
                               "output": {"path": str(Path(tmp) / "out")},
                               "executor": {"workers": workers}, "steps": [{"dedup_minhash": step}]},
                              Path(tmp) / "recipe.yaml")
        start = time.perf_counter()
        child = subprocess.Popen(cli_run(recipe, "--fresh"), stdout=subprocess.DEVNULL)
        main, main_peak, tree_peak = psutil.Process(child.pid), 0, 0
        while child.poll() is None:
            try:
                own = main.memory_info().rss
                tree = own + sum(_rss(p) for p in main.children(recursive=True))
            except psutil.NoSuchProcess:
                break
            main_peak, tree_peak = max(main_peak, own), max(tree_peak, tree)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        if child.returncode:
            raise SystemExit(f"thresher failed on {corpus} (exit {child.returncode})")
        manifest = load_manifest(Path(tmp) / "out")
        return {"corpus": corpus.name, "docs": manifest["counts"]["input"], "removed": manifest["counts"]["removed"],
                "budget_mb": budget, "seconds": seconds, "main_peak_mib": main_peak / 2**20,
                "tree_peak_mib": tree_peak / 2**20}


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--budget", type=int, default=256, help="memory_mb for the budgeted runs")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for corpus in args.corpora:
        for budget in (None, args.budget):
            r = run(corpus, budget, args.workers)
            rows.append(r)
            print(f"{r['corpus']}: budget {budget or 'default'}: {r['seconds']:.1f} s, main {r['main_peak_mib']:.0f} "
                  f"MiB, tree {r['tree_peak_mib']:.0f} MiB", file=sys.stderr, flush=True)
    print(f"{time.strftime('%Y-%m-%d')}, `{' '.join(sys.argv)}`\n")
    print("| corpus | docs | memory_mb | wall s | docs/s | main process peak MiB | tree peak MiB | removed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['corpus']} | {r['docs']:,} | {r['budget_mb'] or 'default'} | {r['seconds']:.1f} | "
              f"{r['docs'] / r['seconds']:,.0f} | {r['main_peak_mib']:.0f} | {r['tree_peak_mib']:.0f} | "
              f"{r['removed']:,} |")


if __name__ == "__main__":
    main()
