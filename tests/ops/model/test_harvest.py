"""harvest: highest scores first, quotas exact, pool rules, near-duplicates collapse."""

import numpy as np
import pytest

from conftest import make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.ops.model.harvest import Harvest, harvest


def test_greedy_by_score_with_quotas_and_similarity():
    score = np.array([.9, .8, .7, .6, .5, .4])
    classes = ["a", "a", "a", "b", "b", "c"]
    v = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [.6, .8], [.8, .6]], float)
    taken, passed = harvest(score, classes, np.ones(6, bool), 3, {"a": 1}, None, None)
    assert taken.tolist() == [0, 3, 4] and "quota" in passed[1] and "quota" in passed[2]
    taken, passed = harvest(score, classes, np.ones(6, bool), 3, {}, v, 0.95)
    assert taken.tolist() == [0, 2, 4] and "near-duplicate" in passed[1] and "near-duplicate" in passed[3]
    pool = np.array([False, True, True, True, True, True])
    assert harvest(score, classes, pool, 2, {}, None, None)[0].tolist() == [1, 2]


def _rows(n=60):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 3)) * 2
    return [{"id": f"r{i:02d}", "text": f"record {i}", "z": z[i].tolist(), "region": "north" if i % 3 else "south",
             "label": None} for i in range(n)]


def test_a_harvest_run_respects_budget_quotas_and_pool(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", _rows())
    steps = [{"ood_score": {"label": None, "logits": "z", "scores": ["entropy"]}},
             {"harvest": {"budget": 12, "quotas": {"0": 0.25, "1": 3}, "where": "region == 'north'"}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps, workers=2, shard_rows=15)))
    kept = read_output(result.output_dir, "kept")
    removed = read_output(result.output_dir, "removed")
    assert kept.num_rows == 12 and set(kept.column("region").to_pylist()) == {"north"}
    counts = {c: kept.column("th_predicted_label").to_pylist().count(c) for c in "012"}
    assert counts["0"] <= 3 and counts["1"] <= 3
    pool = [r for r in removed.to_pylist() if r["region"] == "north"]
    assert min(r["th_ood_entropy"] for r in kept.to_pylist()) >= max(
        r["th_ood_entropy"] for r in pool if "cut" in r["reason"])
    reasons = {r["reason"].split(": ", 1)[1].split(" (")[0] for r in removed.to_pylist()}
    assert "not in the pool" in reasons and any("quota" in r for r in reasons)


def test_bad_harvest_parameters_and_inputs(tmp_path):
    with pytest.raises(RecipeError, match="harvest.budget is required"):
        Harvest()
    with pytest.raises(RecipeError, match=r"quotas\['a'\] must be"):
        Harvest(budget=3, quotas={"a": "many"})
    path = write_jsonl(tmp_path / "in.jsonl", _rows(10))
    with pytest.raises(RecipeError, match=r"step 1 \(harvest\)\.by needs column th_ood_entropy, made by ood_score"):
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"harvest": {"budget": 3}}])))
