"""dedup_semantic (SemDeDup): planted near-duplicates found, the keep rule, chunking, sweep."""

import numpy as np
import pyarrow as pa
import pytest

from conftest import make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.manifest import step_info
from thresher.ops.dedup.semantic import DedupSemantic, max_earlier_similarity, semdedup


def _planted(n=300, dim=16, seed=0):
    """Random unit vectors, with rows 0..9 copied (slightly perturbed) as rows n..n+9."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    copies = x[:10] + rng.normal(scale=0.03, size=(10, dim))
    rows = [{"id": f"r{i:04d}", "text": f"record {i}", "vec": v.tolist(), "q": float(i % 7)}
            for i, v in enumerate(np.vstack([x, copies]))]
    return rows


def _run(tmp_path, rows, params, **executor):
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    steps = [{"embed": {"precomputed": "vec"}}, {"dedup_semantic": params}]
    return run(Recipe.from_dict(make_recipe(tmp_path, path, steps, cache_dir=str(tmp_path / "cache"), **executor)))


def test_planted_copies_are_removed_and_point_to_their_original(tmp_path):
    rows = _planted()
    result = _run(tmp_path, rows, {"eps": 0.02, "k": 1, "keep": "priority", "priority": "q", "prefer": "lowest"})
    removed = read_output(result.output_dir, "removed")
    pairs = {tuple(sorted((r["id"], r["dup_of"]))) for r in removed.to_pylist()}
    assert pairs == {(f"r{i:04d}", f"r{300 + i:04d}") for i in range(10)}
    for r in removed.to_pylist():  # the lower q is kept; ties: the smaller id
        q_removed, q_kept = float(r["id"][1:]) % 7, float(r["dup_of"][1:]) % 7
        assert (q_kept, r["dup_of"]) < (q_removed, r["id"])
        assert r["score"] > 0.98 and r["reason"].startswith("semantic duplicate: cosine")


def test_same_result_with_several_clusters_workers_and_shards(tmp_path):
    rows = _planted(n=600)
    a = _run(tmp_path / "a", rows, {"eps": 0.02, "k": 4})
    b = _run(tmp_path / "b", rows, {"eps": 0.02, "k": 4}, workers=2, shard_rows=100)
    assert read_output(a.output_dir, "removed").equals(read_output(b.output_dir, "removed"))


def test_chunked_similarity_equals_one_block():
    x = np.random.default_rng(3).normal(size=(257, 12)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    whole = max_earlier_similarity(x)
    tiny = max_earlier_similarity(x, chunk_bytes=4 * 257 * 3)  # 3 rows per block
    np.testing.assert_array_equal(whole[1], tiny[1])
    np.testing.assert_allclose(whole[0], tiny[0], rtol=1e-6)
    s = x @ x.T
    for j in (1, 100, 256):
        assert whole[1][j] == np.argmax(s[j, :j])


def test_farthest_from_the_centroid_is_kept():
    x = np.array([[1, 0], [0.999, 0.045], [0.995, 0.1]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.zeros(3, int)
    dist_to_centroid = np.array([0.5, 0.1, 0.9])  # row 2 is farthest: ranked first
    sim, of = semdedup(x, labels, -dist_to_centroid)
    assert of[2] == -1 and of[0] == 2 and of[1] in (0, 2)


def test_sweep_reports_fractions_and_removes_nothing(tmp_path, capsys):
    result = _run(tmp_path, _planted(), {"k": 2, "sweep": [0.3, 0.01, 0.05]})
    assert read_output(result.output_dir, "removed").num_rows == 0
    sweep = step_info(result.manifest, "dedup_semantic")["sweep"]
    assert [r["eps"] for r in sweep] == [0.01, 0.05, 0.3]
    assert sweep[0]["removed"] <= sweep[1]["removed"] <= sweep[2]["removed"]
    assert 10 <= sweep[1]["removed"]
    assert "removed fraction by eps" in capsys.readouterr().err


def test_exact_duplicate_texts_of_real_data_are_semantic_duplicates(tmp_path, sample_subset):
    steps = [{"embed": {"model": "static"}}, {"dedup_semantic": {"eps": 0.001, "k": 3}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, sample_subset, steps)))
    removed = read_output(result.output_dir, "removed")
    kept = read_output(result.output_dir, "kept")
    texts = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    assert removed.num_rows > 0
    for r in removed.to_pylist()[:50]:
        assert r["score"] > 0.999 and r["dup_of"] in texts


@pytest.mark.parametrize("params, message", [
    ({"eps": 0}, "eps must be a float in"),
    ({"eps": 1.5}, "eps must be a float in"),
    ({"keep": "priority"}, "keep: priority needs a priority column"),
    ({"sweep": [0.1, 2.0]}, "sweep values must be floats in"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(RecipeError, match=message):
        DedupSemantic(**params)


def test_empty_and_single_record_inputs():
    op = DedupSemantic()
    from thresher.ops import OpContext

    out = op.decide(pa.table({"id": pa.array([], pa.string()), "th_embedding_key": pa.array([], pa.string())}),
                    OpContext())
    assert out.num_rows == 0


def test_a_chain_reason_names_the_direct_match_and_the_kept_record():
    from thresher.ops import OpContext
    from thresher.ops.embed.embed import Embed

    # a -- b -- c: b is close to a and c, but a and c are not close enough
    v = np.array([[1, 0], [np.cos(0.25), np.sin(0.25)], [np.cos(0.5), np.sin(0.5)]])
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": ["x"] * 3, "vec": v.tolist(),
                                        "q": [0.0, 1.0, 2.0]})
    ctx = OpContext()
    embed = Embed(precomputed="vec")
    batch = embed.apply(batch, embed.decide(embed.keys(batch, ctx), ctx), ctx).batch
    op = DedupSemantic(eps=0.04, k=1, keep="priority", priority="q", prefer="lowest")
    out = op.decide(op.keys(batch, ctx), ctx).to_pylist()
    by_id = {r["id"]: r for r in out}
    assert set(by_id) == {"b", "c"} and by_id["c"]["dup_of"] == "a"
    assert "with b, itself a duplicate of a (cosine 0.878)" in by_id["c"]["reason"]
    assert by_id["b"]["reason"] == "semantic duplicate: cosine 0.969 > 0.960 with a"


def test_clusters_spread_over_tasks_give_the_same_pairs():
    from thresher.ops import OpContext
    from thresher.ops.dedup.semantic import semdedup_by_tasks

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    x[300:] = x[:300] + 0.05 * rng.normal(size=(300, 16)).astype(np.float32)  # near copies
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(0, 9, 600) ** 2 % 11  # uneven clusters, some labels unused
    preference = rng.normal(size=600)
    calls = []

    def mapper(fn, items):
        calls.append(len(items))
        return [fn(item) for item in items]

    ctx = OpContext(workers=2, mapper=mapper, distributed=True)
    sim, of = semdedup_by_tasks(x, labels, preference, 4096, ctx)
    want_sim, want_of = semdedup(x, labels, preference, 4096)
    assert calls == [4]
    np.testing.assert_array_equal(of, want_of)
    np.testing.assert_array_equal(sim, want_sim)
