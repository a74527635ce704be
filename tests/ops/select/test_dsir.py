"""dsir: weights as a direct numpy computation, exact-size resampling without replacement,
independent of sharding, KL toward a real target source goes down, clear errors."""

import gzip
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from test_hashed_ngrams import _reference_counts

from conftest import SAMPLE, make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import InputError, NotFoundError, RecipeError
from thresher.manifest import step_info
from thresher.ops.base import OpContext
from thresher.ops.select.dsir import DSIR, LOGWEIGHT, importance_resample, kl_divergence

SOURCES = ("fortunes", "foldoc", "python-doc", "jargon", "devil", "debian-reference", "manpages-dev")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A pool of real records from 7 sources (up to 300 each: 1,889 records) and a target file
    of 300 other python-doc records."""
    taken, target = Counter(), []
    pool = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        for line in src:
            rec = json.loads(line)
            row = {"id": rec["id"], "text": rec["text"], "source": rec["source"]}
            if rec["source"] == "python-doc" and len(target) < 300 and taken["python-doc"] >= 300:
                target.append(row)
            elif rec["source"] in SOURCES and taken[rec["source"]] < 300:
                taken[rec["source"]] += 1
                pool.append(row)
    folder = tmp_path_factory.mktemp("dsir")
    return write_jsonl(folder / "pool.jsonl", pool), write_jsonl(folder / "target.jsonl", target)


def _run(tmp_path, path, params, **executor):
    return run(Recipe.from_dict(make_recipe(tmp_path, path, [{"dsir": params}], **executor)))


def _info(result):
    return step_info(result.manifest, "dsir")


def test_selects_toward_a_real_target_source_and_kl_goes_down(tmp_path, mixed):
    pool, target = mixed  # a target of 300 records fills few of 10,000 buckets: 1,000 here
    result = _run(tmp_path, pool, {"target_files": [str(target)], "size": 300, "num_buckets": 1000})
    kept, removed = read_output(result.output_dir, "kept"), read_output(result.output_dir, "removed")
    info = _info(result)
    assert info["kl_after"] < 0.5 * info["kl_before"], info
    share = Counter(kept.column("source").to_pylist())["python-doc"] / kept.num_rows
    pool_share = 300 / (kept.num_rows + removed.num_rows)
    assert share > 3 * pool_share, (share, pool_share)
    assert info["target_records"] == 300 and info["selected"] == 300 and info["target"] == "files"
    w = {**dict(zip(kept.column("id").to_pylist(), kept.column(LOGWEIGHT).to_pylist())),
         **dict(zip(removed.column("id").to_pylist(), removed.column(LOGWEIGHT).to_pylist()))}
    assert np.mean([w[i] for i in kept.column("id").to_pylist()]) > np.mean(list(w.values()))


def test_exact_size_without_replacement_and_independent_of_sharding(tmp_path, mixed):
    pool, target = mixed
    params = {"target_files": [str(target)], "fraction": 0.25}
    a = _run(tmp_path / "a", pool, params)
    b = _run(tmp_path / "b", pool, params, workers=2, shard_rows=170)
    kept_a, removed_a = read_output(a.output_dir, "kept"), read_output(a.output_dir, "removed")
    ids = kept_a.column("id").to_pylist()
    n = kept_a.num_rows + removed_a.num_rows
    assert len(ids) == len(set(ids)) == round(0.25 * n)
    assert set(ids).isdisjoint(removed_a.column("id").to_pylist())
    assert set(removed_a.column("reason").to_pylist()) == {
        f"not selected by dsir: importance resampling of {len(ids)} of {n} records toward the target (DSIR)"}
    for name in ("kept", "removed"):
        ta, tb = read_output(a.output_dir, name), read_output(b.output_dir, name)
        assert ta.column("id").equals(tb.column("id")) and ta.column(LOGWEIGHT).equals(tb.column(LOGWEIGHT))


def test_seed_changes_the_sample_and_top_k_takes_the_highest_weights(mixed):
    pool, target = mixed
    rows = [json.loads(line) for line in pool.read_text(encoding="utf-8").splitlines()]
    batch = pa.RecordBatch.from_pylist([{"id": r["id"], "text": r["text"]} for r in rows])

    def chosen(seed, **params):
        op = DSIR(target_files=[str(target)], size=100, **params)
        ctx = OpContext(seed=seed, step="dsir")
        decisions = op.decide(op.keys(batch, ctx), ctx)
        return decisions.column("reason").is_null().to_numpy(zero_copy_only=False), decisions.column(LOGWEIGHT)

    (a, w), (b, _), (again, _) = chosen(0), chosen(1), chosen(0)
    assert (a != b).any() and (a == again).all() and a.sum() == b.sum() == 100
    top, w = chosen(0, top_k=True)
    assert top.sum() == 100 and np.min(w.to_numpy()[top]) >= np.max(w.to_numpy()[~top])


def test_weights_equal_a_direct_numpy_computation():
    texts = ["The cat sat on the mat.", "A dog, a cat; the end!", "Python lists and dicts.",
             "Lists: sort() and sorted().", "", "the the the cat"]
    batch = pa.RecordBatch.from_pydict({"id": [f"r{i}" for i in range(6)], "text": texts,
                                        "kind": ["pet", "pet", "py", "py", "none", "pet"]})
    op = DSIR(target_expr="kind == 'py'", size=2, num_buckets=64)
    ctx = OpContext(seed=3, step="dsir")
    decisions = op.decide(op.keys(batch, ctx), ctx)
    counts = np.stack([_reference_counts(t, 2, 64) for t in texts])
    raw = counts.sum(0) / counts.sum()
    target = counts[2:4].sum(0) / counts[2:4].sum()
    expected = counts @ (np.log(target + 1e-8) - np.log(raw + 1e-8))
    np.testing.assert_allclose(decisions.column(LOGWEIGHT).to_numpy(), expected, rtol=1e-12, atol=1e-9)
    rng = np.random.default_rng(3)
    chosen = np.argsort(-(expected + rng.gumbel(size=6)), kind="stable")[:2]
    assert sorted(np.flatnonzero(decisions.column("reason").is_null().to_numpy(zero_copy_only=False))) == \
        sorted(chosen.tolist())
    sel = counts[chosen].sum(0)
    assert ctx.info["kl_after"] == round(kl_divergence(counts[2:4].sum(0), sel), 6)
    assert ctx.info["kl_before"] == round(float(np.sum(target[target > 0] * (
        np.log(target[target > 0] + 1e-8) - np.log(raw[target > 0] + 1e-8)))), 6)


def test_gumbel_top_k_samples_proportionally_without_replacement():
    w = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    first = Counter(int(np.flatnonzero(importance_resample(w, 1, seed=s))[0]) for s in range(4000))
    freq = np.array([first[i] for i in range(4)]) / 4000
    assert np.all(np.abs(freq - np.exp(w)) < 5 * np.sqrt(np.exp(w) * (1 - np.exp(w)) / 4000)), freq
    for seed in range(20):
        mask = importance_resample(np.zeros(50), 17, seed=seed, eligible=np.arange(50) % 5 != 0)
        assert mask.sum() == 17 and not mask[::5].any()


def test_target_expr_and_min_tokens(tmp_path, mixed):
    pool, _ = mixed
    result = _run(tmp_path, pool, {"target_expr": "source == 'python-doc'", "size": 50, "min_tokens": 40,
                                   "smoothing": 1e-5})
    info = _info(result)
    assert info["target"] == "expr" and info["target_records"] == 300
    kept, removed = read_output(result.output_dir, "kept"), read_output(result.output_dir, "removed")
    short = [r for r in removed.column("reason").to_pylist() if "min_tokens 40" in r]
    assert short and all(r.startswith("not selected by dsir: ") and "tokens < min_tokens 40" in r for r in short)
    assert kept.num_rows == 50


def test_bad_input_is_rejected_with_clear_errors(tmp_path, mixed):
    pool, target = mixed
    with pytest.raises(InputError, match="the target is empty: no record matches dsir.target_expr"):
        _run(tmp_path / "a", pool, {"target_expr": "source == 'nothing'", "size": 5})
    with pytest.raises(NotFoundError, match="dsir.target_files: .*missing.jsonl does not exist"):
        Recipe.from_dict(make_recipe(tmp_path, pool, [{"dsir": {"target_files": ["missing.jsonl"], "size": 5}}]))
    empty = write_jsonl(tmp_path / "empty_text.jsonl", [{"text": ""}, {"text": "   "}])
    with pytest.raises(InputError, match="target_files hold no text"):
        _run(tmp_path / "b", pool, {"target_files": [str(empty)], "size": 5})
    nofield = write_jsonl(tmp_path / "nofield.jsonl", [{"content": "some target text"}])
    op = DSIR(target_files=[str(nofield)], size=1)
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["a pool text"]})
    with pytest.raises(InputError, match="dsir.target_files: .*text field 'text' is missing.*Set dsir.target_text"):
        op.decide(op.keys(batch, OpContext()), OpContext())
    with pytest.raises(InputError, match=r"size 5000 is more than the pool holds \(1889 records\)"):
        _run(tmp_path / "c", pool, {"target_files": [str(target)], "size": 5000})
    with pytest.raises(InputError, match="min_tokens=100000"):
        _run(tmp_path / "d", pool, {"target_files": [str(target)], "size": 5, "min_tokens": 100_000})
    with pytest.raises(RecipeError, match="exactly one of target_files .* or target_expr"):
        DSIR(size=3)
    with pytest.raises(RecipeError, match="exactly one of size"):
        DSIR(target_expr="x == 1", size=3, fraction=0.5)
    with pytest.raises(RecipeError, match="dsir.target_expr is not a valid expression"):
        DSIR(target_expr="source ==", size=3)
    with pytest.raises(RecipeError, match="dsir.num_buckets must be an int in"):
        DSIR(target_expr="x == 1", size=3, num_buckets=1)


def test_target_files_are_relative_to_the_recipe(tmp_path, mixed):
    pool, target = mixed
    recipe = Recipe.from_dict(make_recipe(tmp_path, pool, [{"dsir": {"target_files": [target.name], "size": 5}}]),
                              base_dir=target.parent)
    assert recipe.steps[0].op.target_files == [str(target)]
