"""Small helpers the benchmark scripts share (run them as `python bench/NAME.py`, so that this
directory is on the import path)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

__all__ = ["git_commit", "read_jsonl", "write_jsonl", "REPO"]

REPO = Path(__file__).resolve().parent.parent


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
    """Rows as JSONL (UTF-8, one object a line), parent directories created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
