"""embed: vectors equal the model's, the cache makes reruns encode nothing, precomputed vectors,
and clear errors."""

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_recipe, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.errors import InputError, RecipeError
from thresher.manifest import step_info
from thresher.ops.embed.cache import EmbeddingCache, content_keys, keys_from_hex
from thresher.ops.embed.embed import Embed
from thresher.ops.embed.encoders import load_encoder, minilm_path


def _embed_info(result) -> dict:
    return step_info(result.manifest, "embed")


def test_minilm_vectors_are_sentence_transformers_own(tmp_path):
    from sentence_transformers import SentenceTransformer

    rows = real_rows(24)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = make_recipe(tmp_path, path, [{"embed": {"model": "minilm"}}], cache_dir=str(tmp_path / "cache"))
    result = run(Recipe.from_dict(recipe))
    kept = read_output(result.output_dir, "kept")
    got = EmbeddingCache(tmp_path / "cache").get(keys_from_hex(kept.column("th_embedding_key")))
    by_id = {r["id"]: r["text"] for r in rows}
    texts = [by_id[i] for i in kept.column("id").to_pylist()]
    bare = SentenceTransformer(str(minilm_path()), device="cpu").encode(texts, normalize_embeddings=True)
    assert got.shape == (24, 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, bare, atol=2e-5)


def test_a_rerun_and_another_recipe_encode_nothing(tmp_path):
    rows = real_rows(60)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    cache = str(tmp_path / "cache")
    first = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": "minilm"}}], cache_dir=cache)))
    assert _embed_info(first)["encoded"] == 60 and _embed_info(first)["cache_hits"] == 0
    again = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": "minilm"}}], cache_dir=cache)),
                fresh=True)
    assert _embed_info(again)["encoded"] == 0 and _embed_info(again)["cache_hits"] == 60
    other = make_recipe(tmp_path / "other", path, [{"length": {"min_words": 1}}, {"embed": {"model": "minilm"}},
                                                   {"kmeans": {"k": 3}}], cache_dir=cache)
    third = run(Recipe.from_dict(other))
    assert _embed_info(third)["encoded"] == 0
    assert read_output(first.output_dir, "kept").column("th_embedding_key").equals(
        read_output(again.output_dir, "kept").column("th_embedding_key"))


def test_float16_storage_and_the_static_encoder_are_separate_cache_entries(tmp_path):
    rows = real_rows(40)
    op16, op32 = Embed(model="static", dtype="float16"), Embed(model="static")
    assert op16.model_id != op32.model_id
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": "static", "dtype": "float16"}}])))
    kept = read_output(result.output_dir, "kept")
    vectors = EmbeddingCache(_default_cache()).get(
        keys_from_hex(kept.column("th_embedding_key")))
    assert vectors.shape == (40, 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)  # float16 rounding


def _default_cache():
    from thresher.paths import default_cache_dir

    return default_cache_dir()


def test_static_encoder_neighbours_agree_with_minilm_more_than_chance(tmp_path):
    rows = real_rows(120)
    texts = [r["text"] for r in rows]
    static = load_encoder("static", str(_default_cache()), 256).encode(texts)
    mini = load_encoder("minilm", str(_default_cache()), 256).encode(texts)

    def top(x, k=10):
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]

    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top(static), top(mini))])
    assert overlap > 0.2  # chance is 10 / 119 = 0.08


def test_precomputed_vectors_are_normalized_and_keyed(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"id": f"v{i}", "text": f"record {i}", "vec": (rng.normal(size=6) * 3).tolist()} for i in range(30)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"precomputed": "vec"}}],
                                              cache_dir=str(tmp_path / "cache"))))
    kept = read_output(result.output_dir, "kept")
    got = EmbeddingCache(tmp_path / "cache").get(keys_from_hex(kept.column("th_embedding_key")))
    want = np.array(kept.column("vec").to_pylist(), np.float32)
    np.testing.assert_allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-6)
    assert _embed_info(result)["model"] == "precomputed:float32"


@pytest.mark.parametrize("vec, message", [
    (None, "no column 'vec'"),
    ("ragged", "must all have the same"),
    ("nan", "NaN or infinite"),
    ("text", "must be a list of numbers"),
])
def test_bad_precomputed_vectors_are_named(tmp_path, vec, message):
    rows = [{"id": f"v{i}", "text": "x", "vec": [1.0, 2.0, float(i)]} for i in range(5)]
    if vec is None:
        rows = [{k: v for k, v in r.items() if k != "vec"} for r in rows]
    elif vec == "ragged":
        rows[3]["vec"] = [1.0, 2.0]
    elif vec == "nan":
        rows[2]["vec"] = [1.0, float("nan"), 2.0]
    else:
        rows = [{**r, "vec": "not a vector"} for r in rows]
    path = tmp_path / "in.parquet"  # Parquet: JSON has no NaN
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(RecipeError if vec is None else InputError, match=message):  # a missing column: at plan time
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"precomputed": "vec"}}])))


def test_ops_on_embeddings_ask_for_an_embed_step(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", real_rows(10))
    with pytest.raises(RecipeError, match=r"step 1 \(kmeans\) needs column th_embedding_key, made by embed"):
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"kmeans": {"k": 2}}])))


def test_a_deleted_cache_is_a_clear_error(tmp_path):
    rows = [{"id": f"v{i}", "text": "x", "vec": [1.0, float(i), 2.0]} for i in range(10)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    cache = tmp_path / "cache"
    recipe = make_recipe(tmp_path, path, [{"embed": {"precomputed": "vec"}}, {"length": {"min_words": 1}},
                                          {"kmeans": {"k": 2}}], cache_dir=str(cache))
    run(Recipe.from_dict(recipe))
    shutil.rmtree(cache / "embeddings")
    recipe["steps"][-1] = {"kmeans": {"k": 3}}
    with pytest.raises(InputError, match="missing from the cache .*--fresh"):
        run(Recipe.from_dict(recipe))


def test_cache_keys_name_model_and_text():
    a = content_keys("m1", ["same text", "other"])
    b = content_keys("m2", ["same text"])
    assert a[0] != a[1] and a[0] != b[0] and content_keys("m1", ["same text"])[0] == a[0]


def test_unknown_model_is_a_recipe_error():
    with pytest.raises(RecipeError, match="embed.model: 'no-such-model' is not"):
        _ = Embed(model="no-such-model").model_id


def test_a_local_sentence_transformers_directory_is_a_model(tmp_path):
    rows = real_rows(8)
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    local = str(minilm_path())
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": local}}],
                                              cache_dir=str(tmp_path / "cache"))))
    info = _embed_info(result)
    assert info["model"].startswith("st:") and info["encoded"] == 8
    kept = read_output(result.output_dir, "kept")
    got = EmbeddingCache(tmp_path / "cache").get(keys_from_hex(kept.column("th_embedding_key")))
    by_id = {r["id"]: r["text"] for r in rows}
    want = load_encoder("minilm", str(tmp_path)).encode([by_id[i] for i in kept.column("id").to_pylist()])
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_on_a_cluster_the_workers_encode_chunks_into_the_same_cache(tmp_path):
    """With ``ctx.distributed`` the chunks go to the executor's map (here a counting one) and
    land in the cache as the local path writes them."""
    from thresher.ops import KeyParts, OpContext

    rows = real_rows(20)
    batch = pa.RecordBatch.from_pylist(rows)
    op = Embed(model="minilm", chunk=3)
    keys = op.keys(batch, OpContext())
    calls = []

    def mapper(fn, items):
        calls.append(len(items))
        return [fn(item) for item in items]

    ctx = OpContext(cache_dir=tmp_path / "remote", workers=2, mapper=mapper, distributed=True)
    op.decide(KeyParts([keys]), ctx)
    local = OpContext(cache_dir=tmp_path / "local")
    op.decide(KeyParts([keys]), local)
    assert calls == [4, 3] and ctx.info["encoded"] == 20  # 7 chunks: waves of 2 x workers
    wanted = op.content_keys_of(batch)
    np.testing.assert_allclose(EmbeddingCache(tmp_path / "remote").get(wanted),
                               EmbeddingCache(tmp_path / "local").get(wanted), atol=1e-6)


class _CountingEncoder:
    """A fast stand-in for a model: counts the texts it encodes and, past ``budget`` of them,
    raises ``KeyboardInterrupt`` (a user's Ctrl-C in the middle of an embed)."""

    dim = 4

    def __init__(self, budget: int | None = None, delay: float = 0.0) -> None:
        self.budget, self.delay, self.texts = budget, delay, 0

    def batch_texts(self, batch_size: int) -> int:
        return batch_size

    def encode(self, texts, batch_size=32):
        import time

        if self.budget is not None and self.texts + len(texts) > self.budget:
            raise KeyboardInterrupt
        time.sleep(self.delay)
        self.texts += len(texts)
        return np.array([[len(t), 1, 0, 0] for t in texts], np.float32)


def _fake_encoder(monkeypatch, encoder: _CountingEncoder) -> _CountingEncoder:
    monkeypatch.setattr("thresher.ops.embed.embed.load_encoder", lambda *a, **k: encoder)
    return encoder


def test_an_interrupted_embed_resumes_with_what_is_missing(tmp_path, monkeypatch):
    """600 records in one default chunk: the batches encoded before a Ctrl-C are in the cache
    (a segment each, here, with FLUSH_SECONDS at 0), so the rerun encodes only the rest."""
    monkeypatch.setattr("thresher.ops.embed.embed.FLUSH_SECONDS", 0.0)
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i:03d}", "text": f"text number {i}"} for i in range(600)])
    recipe = Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": "static", "batch_size": 50}}],
                                          cache_dir=str(tmp_path / "cache")))
    _fake_encoder(monkeypatch, _CountingEncoder(budget=150))
    with pytest.raises(KeyboardInterrupt):
        run(recipe)
    second = _fake_encoder(monkeypatch, _CountingEncoder())
    result = run(recipe)
    assert second.texts == 450 and _embed_info(result)["encoded"] == 450
    kept = read_output(result.output_dir, "kept")
    vectors = EmbeddingCache(tmp_path / "cache").get(keys_from_hex(kept.column("th_embedding_key")))
    assert vectors[:, 0].tolist() == [len(t) for t in kept.column("text").to_pylist()]  # each row its own text's


def test_the_embed_bar_is_live_with_a_total(tmp_path, monkeypatch, capsys):
    """With progress on, the encode bar knows how many records are left and moves per batch
    (not once at the end, with an absurd rate)."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i:03d}", "text": f"text {i}"} for i in range(200)])
    recipe = Recipe.from_dict(make_recipe(tmp_path, path, [{"embed": {"model": "static", "batch_size": 50}}],
                                          cache_dir=str(tmp_path / "cache")))
    _fake_encoder(monkeypatch, _CountingEncoder(delay=0.15))
    run(recipe, progress=True)
    bar = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "embed (encode)" in line]
    assert any("0/200" in line for line in bar) and any("200/200" in line for line in bar)
    assert any(f"{n}/200" in line for line in bar for n in (50, 100, 150))
    capsys.readouterr()
    run(recipe, progress=True, fresh=True)  # everything cached: no encode bar
    assert "embed (encode)" not in capsys.readouterr().err


def test_a_local_model_rewritten_with_the_same_size_and_mtime_gets_a_new_id(tmp_path):
    from thresher.ops.embed.encoders import model_id

    model = tmp_path / "model"
    model.mkdir()
    weights = model / "weights.bin"
    weights.write_bytes(b"\x01" * 1000)
    before = model_id(str(model))
    stat = weights.stat()
    weights.write_bytes(b"\x02" * 1000)  # retrained: same size
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old mtime, as rsync -t or a checkout
    assert model_id(str(model)) != before
    assert model_id(str(model)) == model_id(str(model))
