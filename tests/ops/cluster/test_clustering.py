"""kmeans, hierarchical_kmeans and sample_balanced on real text: deterministic whatever the
sharding, quotas exact, small clusters whole, bad parameters named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_recipe, read_output
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.manifest import step_info
from thresher.ops.cluster.balanced import SampleBalanced, balanced_sample, split_budget
from thresher.ops.cluster.hierarchical import HierarchicalKMeans, auto_levels, hierarchical_kmeans

CLUSTERING = [{"embed": {"model": "static"}}, {"kmeans": {"k": 12}},
              {"hierarchical_kmeans": {"levels": [40, 6]}}, {"sample_balanced": {"fraction": 0.25}}]


def _run(tmp_path, name, path, steps, **executor):
    return run(Recipe.from_dict(make_recipe(tmp_path / name, path, steps, **executor)))


@pytest.fixture(scope="module")
def clustered(tmp_path_factory, sample_subset):
    tmp = tmp_path_factory.mktemp("clustered")
    return _run(tmp, "a", sample_subset, CLUSTERING, workers=1, shard_rows=1500)


def test_clusters_and_sample_do_not_depend_on_workers_or_shards(clustered, sample_subset, tmp_path):
    other = _run(tmp_path, "b", sample_subset, CLUSTERING, workers=2, shard_rows=200)
    for name in ("kept", "removed"):
        a = read_output(clustered.output_dir, name)
        b = read_output(other.output_dir, name)
        assert a.select(sorted(a.column_names)).equals(b.select(sorted(b.column_names))), name


def test_every_record_gets_its_clusters(clustered):
    kept = read_output(clustered.output_dir, "kept")
    removed = read_output(clustered.output_dir, "removed")
    for table in (kept, removed):
        assert table.column("th_cluster").null_count == 0
        paths = np.array(table.column("th_cluster_path").to_pylist())
        assert paths.shape[1] == 2 and paths[:, 0].max() < 6 and paths[:, 1].max() < 40
        assert (paths[:, 1] == np.array(table.column("th_cluster").to_pylist())).all()
        parent = {}
        for top, leaf in paths.tolist():  # a leaf cluster has one parent
            assert parent.setdefault(leaf, top) == top
        dist = np.array(table.column("th_cluster_distance").to_pylist())
        assert ((dist >= -1e-5) & (dist <= 2)).all()


def test_sample_hits_the_target_exactly_with_reasons(clustered):
    kept = read_output(clustered.output_dir, "kept")
    removed = read_output(clustered.output_dir, "removed")
    n = kept.num_rows + removed.num_rows
    assert kept.num_rows == round(0.25 * n)
    assert set(removed.column("removed_by").to_pylist()) == {"sample_balanced"}
    assert removed.column("reason").to_pylist()[0].startswith("not selected by sample_balanced: ")
    info = step_info(clustered.manifest, "sample_balanced")
    assert info["selected"] == kept.num_rows and info["leaf_size_max_after"] < info["leaf_size_max_before"]


def test_balanced_sample_flattens_the_cluster_sizes(clustered):
    kept = read_output(clustered.output_dir, "kept")
    removed = read_output(clustered.output_dir, "removed")
    paths_all = np.array(kept.column("th_cluster_path").to_pylist() + removed.column("th_cluster_path").to_pylist())
    paths_kept = np.array(kept.column("th_cluster_path").to_pylist())
    leaf_all = np.bincount(paths_all[:, 1], minlength=40)
    leaf_kept = np.bincount(paths_kept[:, 1], minlength=40)
    for top in np.unique(paths_all[:, 0]):  # among sibling leaves, those under the cap are kept whole
        leaves = np.unique(paths_all[paths_all[:, 0] == top, 1])
        small = leaves[leaf_all[leaves] < leaf_kept[leaves].max()]
        assert (leaf_kept[small] == leaf_all[small]).all()
    assert leaf_kept.std() / leaf_kept.mean() < leaf_all.std() / leaf_all.mean()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=12), st.integers(0, 400), st.integers(0, 10**6))
def test_split_budget_is_exact_and_even(sizes, target, seed):
    sizes = np.array(sizes)
    quota = split_budget(sizes, target, np.random.default_rng(seed).permutation(len(sizes)))
    assert quota.sum() == min(target, sizes.sum())
    assert (quota <= sizes).all() and (quota >= 0).all()
    capped = quota < sizes
    if capped.any():  # every group not taken whole gets the top quota (or one less)
        assert quota[capped].min() >= quota.max() - 1


def test_balanced_sample_recurses_through_the_levels():
    # two top clusters: one with 3 leaves (sizes 1, 2, 30), one with 1 leaf of 100
    paths = np.array([[0, 0]] * 1 + [[0, 1]] * 2 + [[0, 2]] * 30 + [[1, 3]] * 100)
    chosen = balanced_sample(paths, 20, np.arange(len(paths), dtype=float), seed=0)
    assert chosen.sum() == 20
    per_leaf = np.bincount(paths[chosen, 1], minlength=4).tolist()
    assert per_leaf == [1, 2, 7, 10]  # 10 per top cluster; small leaves whole
    assert chosen[3:10].all() and not chosen[10:33].any()  # lowest ranks first within a leaf


def test_hierarchical_levels_and_refinement_are_seeded():
    x = np.random.default_rng(1).normal(size=(600, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    kwargs = dict(niter=10, spherical=True, resample_steps=[3, 3], sample_sizes=[None, None], sampling="closest",
                  max_points_per_centroid=256)
    a = hierarchical_kmeans(x, [30, 5], seed=7, **kwargs)
    b = hierarchical_kmeans(x, [30, 5], seed=7, **kwargs)
    assert all((la == lb).all() for (la, _, _), (lb, _, _) in zip(a, b))
    assert len(a[1][0]) == 30 and set(a[1][0].tolist()) <= set(range(5))
    assert auto_levels(200_000) == [4000, 400, 40] and auto_levels(60) == [1]


@pytest.mark.parametrize("params, message", [
    ({"levels": [10, 20]}, "must decrease"),
    ({"levels": [10, 0]}, "positive ints"),
    ({"levels": [10, 5], "resample_steps": [1, 2, 3]}, None),
])
def test_bad_hierarchy_parameters(params, message):
    if message is None:
        op = HierarchicalKMeans(**params)
        with pytest.raises(RecipeError, match="3 values but there are 2 levels"):
            op.resolved(100)
    else:
        with pytest.raises(RecipeError, match=message):
            HierarchicalKMeans(**params)


def test_k_larger_than_the_data_is_named(tmp_path, sample_subset):
    steps = [{"length": {"min_words": 200}}, {"embed": {"model": "static"}}, {"kmeans": {"k": 5000}}]
    with pytest.raises(RecipeError, match=r"kmeans.k is 5000, more clusters than the \d+ records"):
        _run(tmp_path, "k", sample_subset, steps)


def test_sample_balanced_needs_the_tree_and_one_budget(tmp_path, sample_subset):
    with pytest.raises(RecipeError, match="exactly one of size"):
        SampleBalanced(size=10, fraction=0.5)
    with pytest.raises(RecipeError, match="exactly one of size"):
        SampleBalanced()
    steps = [{"embed": {"model": "static"}}, {"sample_balanced": {"size": 10}}]
    with pytest.raises(RecipeError, match=r"step 2 \(sample_balanced\) needs column th_cluster_path, made by "
                                          "hierarchical_kmeans: add it before this step"):  # when planned
        _run(tmp_path, "t", sample_subset, steps)


def test_on_a_cluster_blocks_of_points_are_assigned_by_tasks():
    from thresher.ops import OpContext
    from thresher.ops.cluster.kmeans_core import assign

    rng = np.random.default_rng(0)
    x = rng.normal(size=(140_000, 8)).astype(np.float32)
    centroids = rng.normal(size=(5, 8)).astype(np.float32)
    calls = []

    def mapper(fn, items):
        calls.append(len(items))
        return [fn(item) for item in items]

    ctx = OpContext(workers=2, mapper=mapper, distributed=True)
    for spherical in (False, True):
        labels, dist = assign(x, centroids, spherical, ctx)
        want = assign(x, centroids, spherical)
        np.testing.assert_array_equal(labels, want[0])
        np.testing.assert_array_equal(dist, want[1])
    assert calls == [3, 3]  # blocks of 65,536 points
