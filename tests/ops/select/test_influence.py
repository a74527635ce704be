"""influence: harmful records found on real text, top-k exactness, determinism through the
runner, the target slice, the target file embedded like the records, and clear errors."""

import numpy as np
import pytest

from conftest import make_recipe, output_digest, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.errors import InputError, NotFoundError, RecipeError
from thresher.manifest import step_info
from thresher.ops.select.influence import Influence

SOURCES = ("fortunes", "foldoc", "python-doc", "jargon")


def _real(per_source: int, skip: int = 0) -> list[dict]:
    rows = real_rows(6000)
    out = []
    for s in SOURCES:
        out += [{**r, "label": s} for r in rows if r["source"] == s][skip:skip + per_source]
    return out


def _pool_and_target(tmp_path, flip: float = 0.1):
    """80 real passages per source (10% of the labels flipped to the next source: the planted
    harm) and a target file of 40 other passages per source with their true labels."""
    pool = _real(80)
    rng = np.random.default_rng(0)
    flipped = set(rng.choice(len(pool), size=int(flip * len(pool)), replace=False).tolist())
    for i in flipped:
        pool[i]["label"] = SOURCES[(SOURCES.index(pool[i]["source"]) + 1) % len(SOURCES)]
    target = write_jsonl(tmp_path / "target.jsonl", [{"text": r["text"], "y": r["label"]} for r in _real(40, 80)])
    return write_jsonl(tmp_path / "pool.jsonl", pool), target, {pool[i]["id"] for i in flipped}


EMBED = {"embed": {"model": "static"}}


def _steps(target, **params):
    """Embed with the static encoder, then influence toward the target file (embedded alike)."""
    return [EMBED, {"influence": {"target": str(target), "target_label": "y", "embed": {"model": "static"},
                                  "proj_dim": 512, **params}}]


def _info(result):
    return step_info(result.manifest, "influence")


def test_remove_harmful_finds_the_flipped_labels_of_real_text(tmp_path):
    pool, target, flipped = _pool_and_target(tmp_path)
    result = run(Recipe.from_dict(make_recipe(tmp_path, pool, _steps(target, remove_harmful=len(flipped)))))
    removed = read_output(result.output_dir, "removed")
    found = set(removed.column("id").to_pylist())
    assert len(found) == len(flipped)
    assert len(found & flipped) / len(found) > 0.4  # at random: 10%
    text = removed.column("reason")[0].as_py()
    value = removed.column("th_influence")[0].as_py()
    assert text.startswith("harmful by influence: influence -") and f"{value:.4g}" in text
    kept = read_output(result.output_dir, "kept")
    assert kept.column("th_influence").null_count == 0
    assert max(removed.column("th_influence").to_pylist()) <= min(kept.column("th_influence").to_pylist())
    info = _info(result)
    assert info["target_records"] == 160 and info["candidates"] == 320 and info["proj_dim"] == 512
    assert info["projection"] == "rademacher" and info["gradient_dim"] == 4 * 257 and info["features"] == "embedding"
    assert info["proxy_target_accuracy"] > 0.7 and info["removed"] == len(flipped)


def test_select_keeps_exactly_the_top_k(tmp_path):
    pool, target, _ = _pool_and_target(tmp_path)
    scored = run(Recipe.from_dict(make_recipe(tmp_path / "a", pool, _steps(target))))
    kept = read_output(scored.output_dir, "kept")
    assert kept.num_rows == 320 and read_output(scored.output_dir, "removed").num_rows == 0
    by_id = dict(zip(kept.column("id").to_pylist(), kept.column("th_influence").to_pylist()))
    top = sorted(by_id, key=lambda i: (-by_id[i], i))[:50]
    chosen = run(Recipe.from_dict(make_recipe(tmp_path / "b", pool, _steps(target, select=50))))
    assert sorted(read_output(chosen.output_dir, "kept").column("id").to_pylist()) == sorted(top)
    removed = read_output(chosen.output_dir, "removed")
    assert removed.num_rows == 270
    assert removed.column("reason")[0].as_py().startswith("not selected by influence: influence ")
    assert f"the top-50 cut {by_id[top[-1]]:.4g}" in removed.column("reason")[0].as_py()


def test_same_result_with_one_or_two_workers(tmp_path):
    pool, target, flipped = _pool_and_target(tmp_path)
    steps = _steps(target, remove_harmful=10, ensemble=2)
    one = run(Recipe.from_dict(make_recipe(tmp_path / "one", pool, steps, workers=1)))
    two = run(Recipe.from_dict(make_recipe(tmp_path / "two", pool, steps, workers=2, shard_rows=70)))
    assert output_digest(one.output_dir) == output_digest(two.output_dir)
    assert read_output(two.output_dir, "removed").num_rows == 10


def test_a_slice_of_the_data_as_target(tmp_path):
    rows = [{**r, "split": "train"} for r in _real(60)] + [{**r, "split": "eval"} for r in _real(20, 60)]
    rows.append({"id": "unlabelled", "text": "A passage without a label.", "label": None, "split": "train",
                 "source": "x"})
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    step = {"influence": {"target_where": "split == 'eval'", "features": "tfidf", "proj_dim": 64, "select": 100,
                          "ensemble": 1}}
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [step])))
    kept = read_output(result.output_dir, "kept").to_pylist()
    assert sum(r["split"] == "eval" for r in kept) == 80  # the target is kept, unscored
    assert all(r["th_influence"] is None for r in kept if r["split"] == "eval" or r["id"] == "unlabelled")
    assert sum(r["split"] == "train" and r["th_influence"] is not None for r in kept) == 100
    info = _info(result)
    assert info["target"] == "slice where split == 'eval'" and info["target_records"] == 80
    assert info["candidates"] == 240 and info["unscored"] == 81


def test_exact_gradients_when_smaller_and_the_target_embedded_like_the_records(tmp_path):
    pool, target, flipped = _pool_and_target(tmp_path)
    result = run(Recipe.from_dict(make_recipe(tmp_path, pool, _steps(target, proj_dim=2048))))
    info = _info(result)
    assert info["projection"] == "none (exact gradients)" and info["gradient_dim"] == info["proj_dim"] == 4 * 257
    steps = _steps(target)
    steps[1]["influence"]["embed"] = {"model": "static", "pca_dims": 128}
    with pytest.raises(RecipeError, match="embedded with other parameters"):
        run(Recipe.from_dict(make_recipe(tmp_path / "b", pool, steps)))


def test_bad_targets_are_rejected_with_clear_errors(tmp_path):
    pool, target, _ = _pool_and_target(tmp_path)
    def _step(path, **params):
        return [{"influence": {"target": str(path), "target_label": "y", "features": "tfidf", "proj_dim": 64,
                               **params}}]

    cases = [
        (_step(tmp_path / "nope.jsonl"), NotFoundError, "influence.target: the target file .*nope.jsonl does not"),
        (_step(target, target_label="label"), InputError, "influence.target_label: the target file .* has no label "
                                                          "column 'label'"),
        ([{"influence": {"target_where": "source == 'none'", "features": "tfidf"}}], InputError,
         "the target set is empty: no record satisfies"),
        (_step(write_jsonl(tmp_path / "nolabels.jsonl", [{"text": "x", "y": None}])), InputError,
         "the target set is empty"),
        (_step(write_jsonl(tmp_path / "odd.jsonl", [{"text": "x", "y": "poetry"}])), InputError,
         r"labels of .* not among the records' classes: \['poetry'\]"),
        (_step(target, proj_dim=3), RecipeError, "proj_dim must be at least the number of classes"),
    ]
    for i, (steps, error, message) in enumerate(cases):
        with pytest.raises(error, match=message):
            run(Recipe.from_dict(make_recipe(tmp_path / str(i), pool, steps)))


@pytest.mark.parametrize("params, message", [
    ({}, "give exactly one of target"),
    ({"target": "a.jsonl", "target_where": "x == 1"}, "give exactly one of target"),
    ({"target": "a.jsonl", "select": 3, "remove_harmful": 3}, "select or remove_harmful, not both"),
    ({"target_where": "x ==="}, "not a valid expression"),
    ({"target": "a.jsonl", "embed": {"model": "static", "nope": 1}}, "influence.embed: embed has no parameter"),
])
def test_bad_parameters_fail_when_the_op_is_built(params, message):
    with pytest.raises(RecipeError, match=message):
        Influence(**params)
