"""What a run's "peak memory" means: the peak, over the run, of the RSS summed over this process
and its descendants (the worker processes and the fork server they come from), as ``ps`` or
``top`` would add them up. Pages that processes share (the fork server's imports) count once per
process, so the sum errs high, as the estimate should. It is sampled on a thread; a spike
shorter than the interval is caught only through the main process's own high-water mark
(``ru_maxrss``), which is a lower bound of the peak. Ray workers on other machines are not counted.
"""

from __future__ import annotations

import os
import resource
import threading
import weakref

__all__ = ["PeakMemory", "MEANING", "tree_rss"]

#: How the summary, the manifest and ``thresher plan`` name what is counted.
MEANING = "peak RSS summed over the main process and its workers"


class PeakMemory:
    """Samples the process tree's summed RSS every ``interval`` seconds from its creation until
    ``stop()`` (or until it is garbage collected: a failed run leaves no sampler behind)."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._box = {"peak": 0}
        self._done = threading.Event()
        self._thread = threading.Thread(target=_sample, args=(psutil.Process(os.getpid()), interval, self._box,
                                                              self._done), daemon=True, name="peak-memory")
        self._thread.start()
        weakref.finalize(self, self._done.set)

    def stop(self) -> int:
        """The peak in bytes (at least this process's own high-water mark)."""
        self._done.set()
        self._thread.join()
        return max(self._box["peak"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def tree_rss(process) -> int:
    """RSS of ``process`` and its live descendants, in bytes."""
    import psutil

    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # exited between listing and reading
            pass
    return total


def _sample(process, interval: float, box: dict, done: threading.Event) -> None:
    while True:
        box["peak"] = max(box["peak"], tree_rss(process))
        if done.wait(interval):
            return
