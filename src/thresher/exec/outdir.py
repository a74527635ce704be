"""The output directory: who owns it, who holds it, and what thresher may delete in it.

thresher writes a marker file (``.thresher-output``) into an output directory before anything
else, refuses a non-empty directory that carries no marker (it is someone else's), and deletes
only names it writes itself: stage directories under ``_work/``, ``part-*`` files of ``kept/``
and ``removed/``, and its documents. One run at a time holds the directory's lock (``flock``
on ``.thresher-lock``, released by the OS when the holder dies).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

from .._version import __version__
from ..errors import BusyError, RecipeError
from ..manifest import read_manifest

__all__ = ["MARKER", "LOCK", "OutputLock", "claim", "is_output_dir", "remove_owned", "is_stage_dir_name",
           "foreign_files"]

MARKER = ".thresher-output"
LOCK = ".thresher-lock"
#: Files at the top of an output directory that thresher writes (and may replace or delete).
DOCUMENTS = ("manifest.json", "report.html", "card.md", "README.md")
_STAGE = re.compile(r"^\d{2}-.+-[0-9a-f]{12}$")
_PART = re.compile(r"^part-[\d-]+\.(parquet|jsonl|jsonl\.gz)$")


def is_stage_dir_name(name: str) -> bool:
    """Whether ``name`` is a stage directory's name (``NN-step-fingerprint``)."""
    return bool(_STAGE.match(name))


def is_output_dir(out: Path) -> bool:
    """Whether ``out`` is a thresher output: it carries the marker, or (written before the
    marker existed) a manifest of thresher's beside a work directory."""
    if (out / MARKER).is_file():
        return True
    manifest = read_manifest(out)
    return isinstance(manifest, dict) and "thresher_version" in manifest and (out / "_work").is_dir()


def foreign_files(out: Path) -> list[Path]:
    """Files in ``kept/`` and ``removed/`` that thresher did not write (it would replace those
    folders, and its audit reads every ``part-*`` file in them)."""
    found = []
    for name in ("kept", "removed"):
        folder = out / name
        if folder.is_dir():
            found += [p for p in sorted(folder.iterdir()) if not (p.is_file() and _PART.match(p.name))]
    return found


def claim(out: Path) -> None:
    """Make ``out`` a thresher output directory, or refuse with a clear error: a path that is a
    file, a non-empty directory that thresher did not write, foreign files in kept/ or removed/."""
    if out.exists() and not out.is_dir():
        raise RecipeError(f"output.path {out} is an existing file; expected a directory (new, empty, or an "
                          "earlier thresher output).")
    if out.is_dir() and not is_output_dir(out):
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise RecipeError(
                f"output.path {out} is a non-empty directory that is not a thresher output (it holds {shown}); "
                "thresher only writes into a new or empty directory or one it wrote before. Choose another "
                "output.path, or empty this one.")
    foreign = foreign_files(out)
    if foreign:
        raise RecipeError(
            f"{out} holds files thresher did not write where it publishes its output: "
            f"{', '.join(str(p.relative_to(out)) for p in foreign[:5])}; move them out of kept/ and removed/.")
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    if not marker.exists():
        marker.write_text(json.dumps({"thresher_version": __version__, "created": time.time()}) + "\n")


def remove_owned(out: Path, *, work: bool = True) -> None:
    """Delete what thresher wrote in ``out`` (``--fresh``): stage directories of ``_work/``
    (with ``work``), ``part-*`` files of kept/ and removed/ and its documents; anything else stays."""
    if work and (out / "_work").is_dir():
        for child in (out / "_work").iterdir():
            if child.is_dir() and is_stage_dir_name(child.name):
                shutil.rmtree(child)
    for name in ("kept", "removed"):
        folder = out / name
        if folder.is_dir():
            for part in folder.iterdir():
                if part.is_file() and _PART.match(part.name):
                    part.unlink()
            _rmdir_if_empty(folder)
    for name in DOCUMENTS:
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / ".publish", ignore_errors=True)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


class OutputLock:
    """An exclusive lock on an output directory for the life of a run (or a ``with`` block).

    A second run on the same output fails at once with a ``BusyError`` naming the holder; the
    lock goes with its holder's death (``kill -9`` included), so it never needs cleaning up.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise BusyError(f"{self.path.parent} is in use by another thresher run ({holder}); wait for it to "
                            "finish or stop it, then run again.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  .encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
