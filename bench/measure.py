"""Run a command and measure its wall time and the peak RSS of its whole process tree
(``measure``); ``measured`` adds its log file, the load before it, its CPU time, and stops the
benchmark with the log's tail when the command fails."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psutil

from common import loadavg

__all__ = ["measure", "measured"]

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


def measured(cmd: list[str], log_path: Path, *, cpu: bool = False) -> dict:
    """``measure(cmd)`` with its stdout and stderr in ``log_path``, plus ``load_before`` (the
    1-minute load average), ``cmd`` and, with ``cpu``, ``cpu_seconds``: user + system time of
    the whole process tree, sampled every 0.1 s (the last sample of each process counts;
    forkserver workers are not reaped by our child, so getrusage would miss them). A command
    that fails stops the benchmark with its log's tail."""
    load = loadavg()
    seen: dict[tuple[int, float], float] = {}
    done = threading.Event()
    sampler = threading.Thread(target=_sample_cpu, args=(seen, done), daemon=True) if cpu else None
    if sampler is not None:
        sampler.start()
    try:
        with open(log_path, "w") as logf:
            m = measure(cmd, stdout=logf, stderr=subprocess.STDOUT)
    finally:
        done.set()
        if sampler is not None:
            sampler.join()
    if m["returncode"] != 0:
        tail = Path(log_path).read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(map(str, cmd[:3]))} failed ({m['returncode']}), see {log_path}:\n{tail}")
    m.update(load_before=load, cmd=" ".join(str(c) for c in cmd))
    if cpu:
        m["cpu_seconds"] = sum(seen.values())
    return m


def _sample_cpu(seen: dict[tuple[int, float], float], done: threading.Event) -> None:
    me = psutil.Process()
    while not done.is_set():
        try:
            procs = me.children(recursive=True)
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    seen[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                pass
        done.wait(0.1)
