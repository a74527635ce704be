"""Time to rerun a finished recipe, as a fraction of the first run (target < 5%).

    python bench/resume.py [--data bench/.data/docs100k.jsonl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

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
    recipe = HERE / "out" / "resume.yaml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(yaml.safe_dump({"input": {"path": str(args.data.resolve())}, "output": {"path": str(out)},
                                      "executor": {"workers": args.workers}, "steps": STEPS}))
    base = [sys.executable, "-m", "thresher.cli", "run", str(recipe), "--no-progress"]
    first = measure(base + ["--fresh"], stdout=subprocess.DEVNULL)
    again = measure(base, stdout=subprocess.DEVNULL)
    assert first["returncode"] == again["returncode"] == 0
    print("| run | time |\n|---|---:|")
    print(f"| first (fresh) | {first['seconds']:.2f} s |")
    print(f"| rerun of the finished recipe | {again['seconds']:.2f} s |")
    print(f"\nrerun / first = {100 * again['seconds'] / first['seconds']:.1f}% (target < 5%)")


if __name__ == "__main__":
    main()
