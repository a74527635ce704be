"""Worker processes die with the run that started them, and leave Ctrl-C to it.

The local executor's workers are forked from a fork server that the run spawns. If the run is
killed (``kill -9``, out of memory), nothing tells them: they would idle on, holding memory. On
Linux each of them asks the kernel for ``SIGKILL`` when its parent dies (``PR_SET_PDEATHSIG``):
the fork server when the run dies, a worker when the fork server dies; elsewhere a thread
watches the parent. The fork server is spawned with SIGINT ignored, which it and its workers
inherit, so that Ctrl-C reaches only the run, which stops them itself (no traceback from them).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["ENV", "die_with_parent", "ignoring_sigint", "worker_init"]

#: Set by the run to its pid before it spawns the fork server, which reads it on import.
ENV = "THRESHER_RUN_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have this process killed when its parent dies; exit now if it is already gone."""
    parent = os.getppid()
    if not _set_pdeathsig():
        threading.Thread(target=_watch, args=(parent,), daemon=True, name="lifeline").start()
    if os.getppid() != parent or parent == 1:  # the parent died before the request took effect
        os._exit(1)


def worker_init(run_pid: int) -> None:
    """The initializer of a worker process: die with the fork server; exit if the run is gone."""
    die_with_parent()
    if not _alive(run_pid):
        os._exit(1)


class ignoring_sigint:
    """A ``with`` block during which SIGINT is ignored (by this process and what it spawns).
    Outside the main thread, where signals cannot be set, it does nothing."""

    def __enter__(self) -> "ignoring_sigint":
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _set_pdeathsig() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux / not glibc
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _quiet_when_the_run_is_gone(kind, value, tb) -> None:
    """The fork server's excepthook: a worker forked while the run exits (Ctrl-C) finds its
    semaphores and pipes gone; that is no news to print. Anything else is printed."""
    if not issubclass(kind, (FileNotFoundError, EOFError, ConnectionError)):
        sys.__excepthook__(kind, value, tb)


# Imported in the fork server (it is the first module of the executor's preload list): the fork
# server is the run's own child, and asks to die with it.
if os.environ.get(ENV) == str(os.getppid()):
    die_with_parent()
    sys.excepthook = _quiet_when_the_run_is_gone
