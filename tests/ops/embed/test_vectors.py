"""vectors_for: an op's vectors come from the run's cache (``OpContext.cache_dir``), which is
always a path, so no op needs a fallback of its own."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from thresher.errors import InputError
from thresher.exec.tasks import ApplyTask, KeysTask, RowTask
from thresher.ops.base import OpContext
from thresher.ops.embed.cache import EmbeddingCache, content_keys, keys_to_hex
from thresher.ops.embed.vectors import vectors_by_id, vectors_for
from thresher.paths import default_cache_dir


def _cache_with_vectors(root: Path) -> tuple[np.ndarray, np.ndarray]:
    keys = content_keys("test-model", ["a", "b", "c"])
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    EmbeddingCache(root, "test-model").add(keys, vectors)
    return keys, vectors


def test_vectors_for_reads_the_context_cache_in_key_order(tmp_path):
    keys, vectors = _cache_with_vectors(tmp_path / "cache")
    ctx = OpContext(cache_dir=tmp_path / "cache")
    order = [2, 0, 1]
    np.testing.assert_array_equal(vectors_for(ctx, keys_to_hex(keys[order])), vectors[order])  # hex column
    np.testing.assert_array_equal(vectors_for(ctx, keys[order]), vectors[order])  # binary keys
    np.testing.assert_array_equal(vectors_for(ctx, pa.chunked_array([keys_to_hex(keys)])), vectors)
    elsewhere = OpContext(cache_dir=tmp_path / "other")
    with pytest.raises(InputError, match="missing from the cache"):
        vectors_for(elsewhere, keys_to_hex(keys))


def test_vectors_by_id_sorts_by_id(tmp_path):
    keys, vectors = _cache_with_vectors(tmp_path)
    table = pa.table({"id": ["z", "a", "m"], "th_embedding_key": keys_to_hex(keys)})
    got, x = vectors_by_id(table, OpContext(cache_dir=tmp_path))
    assert got.column("id").to_pylist() == ["a", "m", "z"]
    np.testing.assert_array_equal(x, vectors[[1, 2, 0]])


def test_context_cache_dir_is_always_a_path():
    assert OpContext().cache_dir == default_cache_dir()  # the recipe's default, never None
    assert isinstance(OpContext(step="x").cache_dir, Path)


@pytest.mark.parametrize("task", [RowTask, KeysTask, ApplyTask])
def test_op_tasks_require_the_cache_dir(task, tmp_path):
    with pytest.raises(TypeError, match="cache_dir"):
        task("s", tmp_path, tmp_path, 0)
    assert task("s", tmp_path, tmp_path, 0, cache_dir=tmp_path / "c").cache_dir == tmp_path / "c"
