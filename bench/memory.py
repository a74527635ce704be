"""Peak memory of a row-local recipe over a ~0.5 GB and a ~2 GB JSONL input.

Target (issue 3): peak RSS of the whole process tree < 1 GB, and the two within 20% of each
other (memory must not grow with the input). Builds the inputs with bench/corpus.py if needed.

    python bench/memory.py [--sizes 500 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import cli_run, write_recipe
from measure import measure

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
STEPS = [
    {"normalize": {}},
    {"length": {"min_words": 5}},
    {"gopher_quality": {}},
    {"gopher_repetition": {}},
    {"c4_quality": {}},
    {"fineweb_quality": {}},
    {"pii": {}},
]


def ensure_corpus(mb: int) -> Path:
    path = DATA / f"scale{mb}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "corpus.py"), "scale", "--mb", str(mb), "--out", str(path)],
                       check=True)
    return path


def run_one(mb: int, workers: int) -> dict:
    data = ensure_corpus(mb)
    out = HERE / "out" / f"memory{mb}"
    from thresher.manifest import load_manifest

    path = write_recipe({"input": {"path": str(data)}, "output": {"path": str(out)},
                         "executor": {"workers": workers}, "steps": STEPS}, HERE / "out" / f"memory{mb}.yaml")
    result = measure(cli_run(path, "--fresh", "--json"), stdout=subprocess.DEVNULL)
    if result["returncode"] != 0:
        raise SystemExit(f"run failed for {mb} MB")
    manifest = load_manifest(out)
    result.update(mb=data.stat().st_size / 1e6, records=manifest["counts"]["input"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = [run_one(mb, args.workers) for mb in args.sizes]
    print("| input | records | time | docs/s | peak RSS (tree) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mb']:.0f} MB | {r['records']:,} | {r['seconds']:.0f} s | {r['records'] / r['seconds']:,.0f} | "
              f"{r['peak_rss_bytes'] / 2**20:.0f} MiB |")
    if len(rows) >= 2:
        growth = rows[-1]["peak_rss_bytes"] / rows[0]["peak_rss_bytes"] - 1
        print(f"\npeak RSS growth from {rows[0]['mb']:.0f} MB to {rows[-1]['mb']:.0f} MB input: {100 * growth:+.1f}% "
              f"(target: within 20%); largest peak {max(r['peak_rss_bytes'] for r in rows) / 2**30:.2f} GiB "
              "(target < 1 GiB)")


if __name__ == "__main__":
    main()
