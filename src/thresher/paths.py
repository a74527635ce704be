"""Where thresher keeps things between runs (a leaf module: it imports nothing of thresher)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    """``$THRESHER_CACHE``, else ``$XDG_CACHE_HOME/thresher``, else ``~/.cache/thresher``."""
    if os.environ.get("THRESHER_CACHE"):
        return Path(os.environ["THRESHER_CACHE"]).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "thresher"
