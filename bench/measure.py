"""Run a command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import time

import psutil

__all__ = ["measure"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(procs: list[psutil.Process]) -> int:
    """RSS summed over ``procs`` (``/proc/PID/statm``: cheap). It counts a page shared by several
    processes (a library, a forked parent's memory) once per process."""
    total = 0
    for p in procs:
        try:
            total += int(open(f"/proc/{p.pid}/statm").read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def _pss(procs: list[psutil.Process]) -> int:
    """PSS summed over ``procs``: shared pages split among the processes that share them. From
    ``/proc/PID/smaps_rollup``, whose page-table walk costs the kernel ~6 ms a process that has
    loaded LLVM or Arrow: CPU taken from a measured multi-process tool on 2 cores (not from a
    one-process one), so it is read only now and then (see ``measure``)."""
    total = 0
    for p in procs:
        try:
            text = open(f"/proc/{p.pid}/smaps_rollup").read()
            fields = dict(line.split(":", 1) for line in text.splitlines()[1:] if ":" in line)
            total += int(fields["Pss"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            pass
    return total


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def measure(cmd: list[str], *, interval: float = 0.05, **kwargs) -> dict:
    """``{"seconds", "peak_rss_bytes", "peak_pss_bytes", "returncode"}`` of ``cmd`` (memory summed
    over the process tree). RSS is read every ``interval``; the process tree every 4th time
    (finding it reads every process of the machine); PSS every 10th time and whenever the RSS
    has grown 5% past what it was at the last PSS reading, so that its peak is seen too. The
    measuring takes about 2% of a core."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, **kwargs)
    proc = psutil.Process(child.pid)
    peak = peak_pss = 0
    polls, procs, rss_at_pss = 0, [], 0
    while child.poll() is None:
        if polls % 4 == 0:
            procs = _tree(proc)
        rss = _rss(procs)
        peak = max(peak, rss)
        if polls % 10 == 0 or rss > 1.05 * rss_at_pss:
            peak_pss, rss_at_pss = max(peak_pss, _pss(procs)), rss
        polls += 1
        time.sleep(interval)
    return {"seconds": time.perf_counter() - start, "peak_rss_bytes": peak, "peak_pss_bytes": peak_pss,
            "returncode": child.returncode}
