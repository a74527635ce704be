"""difficulty: EL2N, GraNd and forgetting checked against direct computations, mislabelled
records score as hard, pruning counts exact."""

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

from conftest import make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.ops.model.difficulty import Difficulty, _grad_norms, difficulty_scores


def _blobs(n=300, seed=0, flip=0.1):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 8)) * 0.6 + np.eye(3, 8)[y] * 2.5
    noisy = y.copy()
    flipped = rng.choice(n, int(flip * n), replace=False)
    noisy[flipped] = (y[flipped] + 1) % 3
    return x.astype(np.float32), noisy, flipped


def test_grand_is_the_per_example_gradient_norm():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    got = _grad_norms(model, x, y, functional_call, grad, vmap, torch, chunk=4)
    for i in range(6):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        want = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
        assert abs(got[i] - want) < 1e-5


def test_mislabelled_records_are_hard_and_scores_are_seeded():
    x, y, flipped = _blobs()
    s = difficulty_scores(x, y, 3, seeds=2, epochs=6, score_epoch=2, hidden=16, seed=1)
    again = difficulty_scores(x, y, 3, seeds=2, epochs=6, score_epoch=2, hidden=16, seed=1)
    clean = np.setdiff1d(np.arange(len(y)), flipped)
    for name in ("el2n", "grand", "forgetting"):
        np.testing.assert_array_equal(s[name], again[name])
        assert s[name][flipped].mean() > s[name][clean].mean(), name
    assert (s["el2n"] >= 0).all() and (s["el2n"] <= np.sqrt(2) + 1e-6).all()


def test_remove_the_easiest_fraction(tmp_path):
    x, y, _ = _blobs(90)
    rows = [{"id": f"r{i:02d}", "text": "x", "vec": x[i].tolist(), "label": int(y[i])} for i in range(90)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    steps = [{"embed": {"precomputed": "vec"}},
             {"difficulty": {"remove_easiest": 0.3, "epochs": 4, "seeds": 1, "hidden": 8}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps, cache_dir=str(tmp_path / "c"))))
    kept, removed = read_output(result.output_dir, "kept"), read_output(result.output_dir, "removed")
    assert removed.num_rows == 27 and kept.num_rows == 63
    assert max(removed.column("th_el2n").to_pylist()) <= min(kept.column("th_el2n").to_pylist())
    assert removed.column("reason").to_pylist()[0].startswith("easy (el2n): ")


@pytest.mark.parametrize("params, message", [
    ({"remove_easiest": 0.1, "keep_band": [0.1, 0.9]}, "not both"),
    ({"keep_band": [0.9, 0.1]}, "keep_band must be"),
    ({"score_epoch": 5, "epochs": 3}, "after the last epoch"),
])
def test_bad_parameters(params, message):
    with pytest.raises(RecipeError, match=message):
        Difficulty(**params)
