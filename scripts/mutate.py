"""A small mutation check: break the code on purpose, one known way at a time, and see that the
tests notice.

Each mutant is a text substitution in one file of ``src/`` (the text must occur exactly once)
with the tests that must fail because of it. The script copies ``src/`` to a temporary
directory, runs the union of the listed tests once against the unchanged copy (they must pass),
then, for each mutant, applies it to the copy, runs its tests with ``PYTHONPATH`` pointing at
the copy (stopping at the first failure) and restores the file. A mutant whose tests still pass
*survives*: a change that would ship unnoticed. It exits 1 if any mutant survives or does not
apply (its text is not in the source any more: update the list), 0 otherwise. It takes a few
minutes, so it is not part of the test suite; ``tests/test_mutate.py`` only checks that every
mutant still applies.

Usage (from the repository root)::

    python scripts/mutate.py            # every mutant
    python scripts/mutate.py --list     # the mutants, numbered
    python scripts/mutate.py 1 5        # mutants 1 and 5 only
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    file: str  # relative to src/thresher
    old: str
    new: str
    description: str
    tests: tuple[str, ...]  # pytest arguments; a path under src/ (a doctest) runs on the mutated copy


FINGERPRINT = ("tests/exec/test_fingerprint.py",)
PII = ("tests/ops/text/test_pii.py", "src/thresher/ops/text/pii.py")
GOPHER = ("tests/ops/text/test_gopher.py", "src/thresher/ops/text/gopher.py")
HARDENING = ("tests/io/test_hardening.py",)
CONTENT = ("tests/exec/test_fingerprint.py::test_changed_content_with_the_same_size_and_mtime_recomputes",)
AUDIT = ("tests/exec/test_ledger.py",
         "tests/exec/test_local.py::test_audit_fails_loudly_when_output_records_go_missing")
OUTDIR = ("tests/exec/test_outdir.py",)

MUTANTS = [
    Mutant("exec/plan.py", '"seed": recipe.seed,', "", "the seed left out of the stage fingerprint", FINGERPRINT),
    Mutant("exec/plan.py", '"input": vars(recipe.input),', "", "the input options (text_field...) left out of "
           "the stage fingerprint", FINGERPRINT),
    Mutant("exec/plan.py", '"inputs": [(f.rel, f.size, f.xxh3) for f in files],',
           '"inputs": [(f.rel, f.size, f.mtime_ns) for f in files],', "inputs fingerprinted by size and mtime, "
           "not content", CONTENT),
    Mutant("io/reserved.py", '"dup_of", "score", "cluster_size")', '"dup_of", "cluster_size")',
           "an input column `score` is not refused", HARDENING),
    Mutant("io/csvfile.py", "column_types={n: pa.string() for n in names}", "column_types={}",
           "CSV values typed by guessing again", HARDENING),
    Mutant("io/decode.py", 'raise EOFError("the file ends inside a zstd frame")', "return 0",
           "a truncated zstd file read silently", HARDENING),
    Mutant("ops/text/pii.py", "def _valid_ip(text: str) -> bool:\n",
           "def _valid_ip(text: str) -> bool:\n    return True\n", "pii: every IP-like string is an address", PII),
    Mutant("ops/text/pii.py", "if _DATE_LIKE.match(text):", "if False:", "pii: the date guard of phones is off", PII),
    Mutant("ops/text/pii.py", "total >= self.min_matches", "total > self.min_matches",
           "pii drop: min_matches off by one", PII),
    Mutant("ops/text/gopher.py", 'ELLIPSES = ("...", "…")', 'ELLIPSES = ("...",)',
           "gopher: lines ending with … are not ellipsis lines", GOPHER),
    Mutant("ops/text/gopher.py", ' + text.count("…")', "", "gopher: … not counted in the ellipsis ratio", GOPHER),
    Mutant("ops/text/gopher.py", "*(grams[f\"dup_{n}\"] for n in DUPLICATE_NGRAM_THRESHOLDS)]",
           "*(grams[f\"dup_{n}\"] * 0.9 for n in DUPLICATE_NGRAM_THRESHOLDS)]",
           "gopher repetition: duplicate n-gram fractions 10% low", GOPHER),
    Mutant("exec/ledger.py", "if len(got) != len(expected) or not np.array_equal(got, expected):", "if False:",
           "audit: the invariant check is off", AUDIT),
    Mutant("exec/ledger.py", "if len(got) != len(expected) or not np.array_equal(got, expected):",
           "if len(got) != len(expected):", "audit: only the counts are compared, not the ids", AUDIT),
    Mutant("ops/text/length.py", 'reason(f"too few {unit}"', 'reason(f"too short in {unit}"',
           "length: the rule name of a reason changes", ("src/thresher/ops/text/length.py",)),
    Mutant("ops/dedup/keep.py", '"descending" if prefer == "highest" else "ascending"',
           '"ascending" if prefer == "highest" else "descending"', "dedup keep rule: prefer inverted",
           ("src/thresher/ops/dedup/exact.py",)),
    Mutant("ops/select/rebalance.py", "dropped = np.sort(order[position >= cap])",
           "dropped = np.sort(order[position > cap])", "rebalance: one record too many kept per class",
           ("tests/ops/select/test_rebalance.py", "src/thresher/ops/select/rebalance.py")),
    Mutant("ops/dedup/lsh.py", "return threshold - z * float(np.sqrt(threshold * (1 - threshold) / num_perm))",
           "return 0.0", "dedup_minhash: LSH candidates never verified",
           ("tests/ops/dedup/test_minhash.py::test_verify_signature_only_removes_links_below_threshold",)),
    Mutant("exec/outdir.py", "    if out.is_dir() and not is_output_dir(out):", "    if False:",
           "output: a non-empty directory thresher did not write is written into", OUTDIR),
    Mutant("exec/outdir.py", "            if child.is_dir() and is_stage_dir_name(child.name):",
           "            if child.is_dir():", "--fresh: every directory under _work/ is deleted", OUTDIR),
    Mutant("exec/outdir.py", "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", "            pass",
           "output: no lock, two runs write at once", OUTDIR),
    Mutant("exec/lifeline.py", "        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0",
           "        return True", "workers outlive a killed run",
           ("tests/exec/test_outdir.py::test_killing_the_run_leaves_no_process_behind",)),
]


def check_applies(mutant: Mutant, src: Path) -> str | None:
    """Why ``mutant`` cannot be applied to the tree ``src`` (the parent of ``thresher/``), or None."""
    path = src / "thresher" / mutant.file
    if not path.is_file():
        return f"no file {mutant.file}"
    count = path.read_text(encoding="utf-8").count(mutant.old)
    return None if count == 1 else f"{mutant.old!r} occurs {count} times in {mutant.file}, not once"


def _pytest(tests: tuple[str, ...], src: Path, *, first_failure: bool) -> tuple[bool, str]:
    """Run ``tests`` with ``src`` (a copy of src/) first on the path: (passed, the failed test or
    the last line of the output)."""
    args = [str(src / t[len("src/"):]) if t.startswith("src/") else t for t in tests]
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           "-c", str(ROOT / "pyproject.toml"), "-rfE", *(["-x"] if first_failure else []), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return proc.returncode == 0, (failed or lines or [""])[-1][:160]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", type=int, help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for i, m in enumerate(MUTANTS, 1):
            print(f"{i:2d}. {m.file}: {m.description}")
        return 0
    chosen = [(i, MUTANTS[i - 1]) for i in (args.numbers or range(1, len(MUTANTS) + 1))]
    with tempfile.TemporaryDirectory(prefix="thresher-mutants-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        broken = [(i, why) for i, m in chosen if (why := check_applies(m, src))]
        for i, why in broken:
            print(f"{i:2d}. does not apply: {why}")
        every_test = tuple(dict.fromkeys(t for _, m in chosen for t in m.tests))
        ok, tail = _pytest(every_test, src, first_failure=False)
        if not ok:
            print(f"the tests fail on the unchanged code: {tail}")
            return 1
        survivors = []
        for i, mutant in chosen:
            if any(i == j for j, _ in broken):
                continue
            path = src / "thresher" / mutant.file
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(mutant.old, mutant.new, 1), encoding="utf-8")
            start = time.perf_counter()
            try:
                passed, tail = _pytest(mutant.tests, src, first_failure=True)
            finally:
                path.write_text(original, encoding="utf-8")
            verdict = "SURVIVED" if passed else "killed"
            print(f"{i:2d}. {verdict:8s} {mutant.file}: {mutant.description} ({time.perf_counter() - start:.0f} s; "
                  f"{tail})", flush=True)
            if passed:
                survivors.append(i)
    print(f"{len(chosen) - len(survivors) - len(broken)} of {len(chosen)} mutants killed"
          + (f"; survived: {survivors}" if survivors else "") + (f"; not applied: {[i for i, _ in broken]}"
                                                                    if broken else ""))
    return 1 if survivors or broken else 0


if __name__ == "__main__":
    sys.exit(main())
