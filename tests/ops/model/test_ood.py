"""ood_score: each score against a hand computation, knn excludes the record itself, a held-out
source scores as out-of-distribution, removal by score, clear errors."""

import numpy as np
import pytest

from conftest import make_recipe, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.ops.model.ood import OodScore, knn_distance, ood_scores


def test_scores_by_hand():
    z = np.array([[2.0, 1.0, 0.0], [0.5, 0.4, 0.3]])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    s = ood_scores(p, z, ["msp", "max_logit", "energy", "entropy", "margin"], temperature=2.0)
    np.testing.assert_allclose(s["msp"], 1 - p.max(1))
    np.testing.assert_allclose(s["max_logit"], [-2.0, -0.5])
    np.testing.assert_allclose(s["energy"], -2.0 * np.log(np.exp(z / 2).sum(1)))
    np.testing.assert_allclose(s["entropy"], [-(q * np.log(q)).sum() for q in p])
    np.testing.assert_allclose(s["margin"], 1 - (np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]))
    assert all(s[k][1] > s[k][0] for k in s)  # the flat prediction is the more uncertain one


def test_knn_distance_skips_the_record_itself():
    x = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], np.float32)
    d = knn_distance(x, x[:3], k=1, self_in_reference=np.array([True, True, True, False]))
    # nearest other reference row: 0 -> 1, 1 -> 0, 2 -> 1; row 3 (not a reference) -> row 2
    expect = [np.linalg.norm(x[0] - x[1]), np.linalg.norm(x[1] - x[0]), np.linalg.norm(x[2] - x[1]),
              np.linalg.norm(x[3] - x[2])]
    np.testing.assert_allclose(d, expect, atol=1e-5)


def test_an_unlabelled_unseen_source_scores_higher(tmp_path):
    """Labelled computing texts (Python docs, FOLDOC) are in-distribution; unlabelled fortunes are not."""
    rows = real_rows(20000)
    ind = [r for r in rows if r["source"] in ("python-doc", "foldoc")][:240]
    ood = [r for r in rows if r["source"] == "fortunes"][:40]
    assert len(ood) == 40
    data = [{**r, "label": r["source"]} for r in ind] + [{**r, "label": None} for r in ood]
    path = write_jsonl(tmp_path / "in.jsonl", data)
    steps = [{"embed": {"model": "static"}}, {"ood_score": {"knn_k": 5}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps)))
    kept = read_output(result.output_dir, "kept")
    is_ood = np.array([r is None for r in kept.column("label").to_pylist()])
    for score in ("msp", "energy", "entropy", "margin", "max_logit", "knn"):
        s = np.array(kept.column(f"th_ood_{score}").to_pylist())
        auroc = (s[is_ood][:, None] > s[~is_ood][None, :]).mean()
        assert auroc > 0.6, (score, auroc)


def test_remove_the_top_fraction(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 3)) * 3
    rows = [{"id": f"r{i:02d}", "text": "x", "z": z[i].tolist()} for i in range(50)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    steps = [{"ood_score": {"label": None, "logits": "z", "scores": ["energy", "msp"], "remove_by": "energy",
                            "remove_fraction": 0.1}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps, workers=2, shard_rows=20)))
    removed = read_output(result.output_dir, "removed")
    energy = -np.log(np.exp(z).sum(1))
    assert sorted(removed.column("id").to_pylist()) == sorted(f"r{i:02d}" for i in np.argsort(-energy)[:5])
    assert removed.column("reason").to_pylist()[0].startswith("ood energy: ")


@pytest.mark.parametrize("params, message", [
    ({"scores": ["nope"]}, "unknown"),
    ({"remove_by": "msp"}, "exactly one of remove_above or remove_fraction"),
    ({"remove_fraction": 0.1}, "removing needs remove_by"),
    ({"probs": "p", "scores": ["energy"]}, "need logits"),
    ({"scores": ["msp"], "remove_by": "knn", "remove_above": 1.0}, "not among scores"),
])
def test_bad_parameters(params, message):
    with pytest.raises(RecipeError, match=message):
        OodScore(**params)
