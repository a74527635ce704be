"""rebalance: caps exact per class, weights average 1, errors name the column."""

import numpy as np
import pytest

from conftest import make_recipe, read_output
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.manifest import step_info
from thresher.ops.select.rebalance import Rebalance


def _run(tmp_path, path, params, **executor):
    return run(Recipe.from_dict(make_recipe(tmp_path, path, [{"rebalance": params}], **executor)))


def _counts(table, column="source"):
    values, counts = np.unique(np.array(table.column(column).to_pylist(), dtype=object), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def test_cap_keeps_exactly_the_cap_of_each_big_class(tmp_path, sample_subset):
    result = _run(tmp_path, sample_subset, {"label": "source", "max_per_class": 100})
    kept, removed = read_output(result.output_dir, "kept"), read_output(result.output_dir, "removed")
    before = {k: v for k, v in _counts(kept).items()}
    for k, v in _counts(removed).items():
        before[k] = before.get(k, 0) + v
    assert _counts(kept) == {k: min(v, 100) for k, v in before.items()}
    info = step_info(result.manifest, "rebalance")
    assert info["classes_before"] == before and info["cap"] == 100
    assert removed.column("reason").to_pylist()[0].startswith("class cap: source=")


def test_cap_by_ratio_and_independent_of_sharding(tmp_path, sample_subset):
    a = _run(tmp_path / "a", sample_subset, {"label": "source", "max_ratio": 2.0})
    b = _run(tmp_path / "b", sample_subset, {"label": "source", "max_ratio": 2.0}, workers=2, shard_rows=300)
    assert read_output(a.output_dir, "kept").column("id").equals(read_output(b.output_dir, "kept").column("id"))
    counts = _counts(read_output(a.output_dir, "kept"))
    assert max(counts.values()) <= 2 * min(counts.values())


def test_weights_equalize_class_mass(tmp_path, sample_subset):
    result = _run(tmp_path, sample_subset, {"label": "source", "mode": "weight"})
    kept = read_output(result.output_dir, "kept")
    assert read_output(result.output_dir, "removed").num_rows == 0
    w = np.array(kept.column("th_weight").to_pylist())
    assert abs(w.mean() - 1) < 1e-4
    labels = np.array(kept.column("source").to_pylist(), dtype=object)
    mass = [w[labels == c].sum() for c in np.unique(labels)]
    np.testing.assert_allclose(mass, mass[0], rtol=1e-3)


def test_missing_label_column_and_bad_parameters(tmp_path, sample_subset):
    with pytest.raises(RecipeError, match=r"step 1 \(rebalance\)\.label: no column 'class'"):
        _run(tmp_path, sample_subset, {"label": "class", "max_per_class": 5})
    with pytest.raises(RecipeError, match="exactly one of max_per_class or max_ratio"):
        Rebalance(label="source")
    with pytest.raises(RecipeError, match="mode weight takes no"):
        Rebalance(label="source", mode="weight", max_per_class=3)
