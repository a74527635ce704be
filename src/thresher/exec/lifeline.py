"""Worker processes die with the run that started them, and leave Ctrl-C to it.

The local executor's workers are forked from a fork server that the run spawns. If the run is
killed (``kill -9``, out of memory), nothing tells them: they would idle on, holding memory. On
Linux each of them asks the kernel for ``SIGKILL`` when its parent dies (``PR_SET_PDEATHSIG``):
the fork server when the run dies, a worker when the fork server dies; elsewhere a thread
watches the parent. The fork server is spawned with SIGINT blocked, which it and its workers
inherit, so that Ctrl-C reaches only the run, which stops them itself (no traceback from them).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["ENV", "die_with_parent", "blocking_sigint", "worker_init", "interrupts_remembered", "raise_if_interrupted"]

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


class blocking_sigint:
    """A ``with`` block during which this thread blocks SIGINT, so that a process it spawns
    starts with SIGINT blocked (a signal mask is inherited): Ctrl-C never reaches it, nor the
    workers forked from it. A Ctrl-C that arrives meanwhile waits, and is raised here (as
    ``KeyboardInterrupt``) when the block ends: it is never lost."""

    def __enter__(self) -> "blocking_sigint":
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        return self

    def __exit__(self, *exc) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


_interrupted = threading.Event()


class interrupts_remembered:
    """A ``with`` block (the command line's) in which Ctrl-C raises ``KeyboardInterrupt`` as
    Python's own handler does, and is also remembered: Python drops an exception raised while
    it runs a weakref callback or ``__del__`` ("Exception ignored in ..."), which would lose the
    Ctrl-C. The executor calls ``raise_if_interrupted`` between tasks, so none is lost. Outside
    the main thread it does nothing."""

    def __enter__(self) -> "interrupts_remembered":
        self._old = None
        if threading.current_thread() is threading.main_thread():
            _interrupted.clear()
            self._old = signal.signal(signal.SIGINT, _on_sigint), sys.unraisablehook
            sys.unraisablehook = _quiet_unraisable_interrupt
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old[0])
            sys.unraisablehook = self._old[1]


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (and Python dropped its exception)."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


def _on_sigint(signum, frame) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def _quiet_unraisable_interrupt(unraisable) -> None:
    """Python's unraisable hook, silent for a dropped Ctrl-C (``raise_if_interrupted`` acts on it)."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


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
