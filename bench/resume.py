"""Time to rerun a finished recipe, as a fraction of the first run (target < 5%).

    python bench/resume.py [--data bench/.data/docs100k.jsonl]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from common import cli_run, write_recipe
from measure import measure

HERE = Path(__file__).resolve().parent
STEPS = [{"normalize": {}}, {"language": {"keep": None, "min_score": 0.0}}, {"length": {"min_words": 5}},
         {"gopher_quality": {}}, {"gopher_repetition": {}}, {"c4_quality": {}}, {"dedup_exact": {}}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / ".data" / "docs100k.jsonl")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = HERE / "out" / "resume"
    recipe = write_recipe({"input": {"path": str(args.data.resolve())}, "output": {"path": str(out)},
                           "executor": {"workers": args.workers}, "steps": STEPS}, HERE / "out" / "resume.yaml")
    first = measure(cli_run(recipe, "--fresh"), stdout=subprocess.DEVNULL)
    again = measure(cli_run(recipe), stdout=subprocess.DEVNULL)
    assert first["returncode"] == again["returncode"] == 0
    print("| run | time |\n|---|---:|")
    print(f"| first (fresh) | {first['seconds']:.2f} s |")
    print(f"| rerun of the finished recipe | {again['seconds']:.2f} s |")
    print(f"\nrerun / first = {100 * again['seconds'] / first['seconds']:.1f}% (target < 5%)")


if __name__ == "__main__":
    main()
