"""Run a command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import subprocess
import time

import psutil

__all__ = ["measure"]


def _tree_rss(proc: psutil.Process) -> int:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(cmd: list[str], *, interval: float = 0.05, **kwargs) -> dict:
    """``{"seconds", "peak_rss_bytes", "returncode"}`` of ``cmd`` (RSS summed over the tree)."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, **kwargs)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(interval)
    return {"seconds": time.perf_counter() - start, "peak_rss_bytes": peak, "returncode": child.returncode}
