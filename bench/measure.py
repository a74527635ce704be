"""Run a command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import subprocess
import time

import psutil

__all__ = ["measure"]


def _tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) summed over the tree. RSS counts a page shared by several processes (a
    library, a forked parent's memory) once per process; PSS splits it among them."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    rss = pss = 0
    for p in procs:
        try:
            info = p.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return rss, pss


def measure(cmd: list[str], *, interval: float = 0.05, **kwargs) -> dict:
    """``{"seconds", "peak_rss_bytes", "peak_pss_bytes", "returncode"}`` of ``cmd`` (memory summed
    over the process tree)."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, **kwargs)
    proc = psutil.Process(child.pid)
    peak = peak_pss = 0
    while child.poll() is None:
        rss, pss = _tree_memory(proc)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(interval)
    return {"seconds": time.perf_counter() - start, "peak_rss_bytes": peak, "peak_pss_bytes": peak_pss,
            "returncode": child.returncode}
