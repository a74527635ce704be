"""The local executor: deterministic whatever the workers and shards; reuses finished work."""

import pytest

from conftest import PIPELINE, make_recipe, output_digest, read_output
from thresher import Recipe, run


def _run(tmp_path, sample, steps=PIPELINE, **executor):
    return run(Recipe.from_dict(make_recipe(tmp_path, sample, steps, **executor), base_dir=tmp_path))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sample_subset):
    tmp = tmp_path_factory.mktemp("ref")
    result = _run(tmp, sample_subset, workers=1, shard_rows=10_000)
    return result, output_digest(tmp / "out")


@pytest.mark.parametrize("workers, shard_rows", [(2, 100), (4, 377), (1, 64)])
def test_same_output_for_any_workers_and_shard_size(tmp_path, sample_subset, reference, workers, shard_rows):
    result = _run(tmp_path, sample_subset, workers=workers, shard_rows=shard_rows)
    assert result.counts == reference[0].counts
    assert output_digest(tmp_path / "out") == reference[1]


def test_reference_run_removes_for_each_reason_and_keeps_the_rest(reference):
    result, (kept, removed) = reference
    assert result.counts["input"] == 1500
    by_step = {s["step"]: s for s in result.manifest["steps"]}
    assert by_step["length"]["removed"]["too few words"] > 0
    assert by_step["language"]["removed"]["language not kept"] > 0  # Italian and Spanish fortunes
    assert by_step["dedup_exact"]["removed"]["exact duplicate"] > 0  # fortunes repeat across files
    assert by_step["dedup_minhash"]["removed"]["near duplicate"] > 0  # e.g. the same quote, reworded
    assert {r["removed_by"] for r in removed} >= {"length", "language", "dedup_exact", "dedup_minhash"}
    assert all(r["reason"] for r in removed)
    assert all(r["dup_of"] for r in removed if r["removed_by"] == "dedup_exact")


def test_rerun_recomputes_nothing(tmp_path, sample_subset):
    _run(tmp_path, sample_subset, workers=2, shard_rows=200)
    again = _run(tmp_path, sample_subset, workers=2, shard_rows=200)
    assert [s["status"] for s in again.manifest["stages"]] == ["reused"] * len(again.manifest["stages"])
    assert sum(s["computed_units"] for s in again.manifest["stages"]) == 0
    assert again.manifest["published"] is False


def test_editing_one_step_recomputes_only_from_it(tmp_path, sample_subset):
    first = _run(tmp_path, sample_subset, shard_rows=500)
    before = output_digest(tmp_path / "out")
    steps = [dict(s) for s in PIPELINE]
    steps[3] = {"dedup_exact": {"normalize": "none"}}
    edited = _run(tmp_path, sample_subset, steps=steps, shard_rows=500)
    status = {s["stage"]: s["status"] for s in edited.manifest["stages"]}
    assert status == {"ingest": "reused", "input": "reused", "normalize": "reused", "length": "reused",
                      "language": "reused", "dedup_exact": "computed", "pii": "computed", "filter": "computed",
                      "dedup_minhash": "computed"}
    assert edited.counts["input"] == first.counts["input"]
    # and back: the original output again, bit for bit
    _run(tmp_path, sample_subset, shard_rows=500)
    assert output_digest(tmp_path / "out") == before


def test_fused_row_steps_give_the_same_output(tmp_path, sample_subset, reference):
    result = _run(tmp_path, sample_subset, fuse_row_steps=True, shard_rows=400, workers=2)
    assert [s["stage"] for s in result.manifest["stages"]] == [
        "ingest", "input", "normalize+length+language", "dedup_exact", "pii+filter", "dedup_minhash"]
    assert output_digest(tmp_path / "out") == reference[1]


def test_invariant_kept_plus_removed_equals_input(tmp_path, sample_subset):
    result = _run(tmp_path, sample_subset, shard_rows=300)
    kept = read_output(tmp_path / "out", "kept").column("id").to_pylist()
    removed = read_output(tmp_path / "out", "removed").column("id").to_pylist()
    assert not set(kept) & set(removed)
    assert len(kept) + len(removed) == result.counts["input"] == 1500


def test_audit_fails_loudly_when_output_records_go_missing(tmp_path, sample_subset):
    from thresher.errors import InvariantError

    _run(tmp_path, sample_subset, shard_rows=500)
    victim = sorted((tmp_path / "out" / "kept").glob("part-*"))[0]
    lost = read_output(tmp_path / "out", "kept").column("id").to_pylist()
    victim.unlink()
    with pytest.raises(InvariantError, match=r"audit failed: 1500 input records but .* missing from the output: \["):
        _run(tmp_path, sample_subset, shard_rows=500)
    assert lost  # the message names real ids; --fresh rebuilds the output
    assert run(Recipe.from_dict(make_recipe(tmp_path, sample_subset, PIPELINE, shard_rows=500), base_dir=tmp_path),
               fresh=True).counts["input"] == 1500


def test_minhash_keys_and_apply_run_on_threads_of_the_main_process(tmp_path, sample_subset, monkeypatch):
    """``in_threads`` ops (dedup_minhash) run their shard tasks on threads, the others in workers."""
    from concurrent.futures import ThreadPoolExecutor

    from thresher.exec import local

    seen = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, task, *args, **kwargs):
            seen.append((type(task).__name__, task.step.name))
            return super().submit(fn, task, *args, **kwargs)

    monkeypatch.setattr(local, "ThreadPoolExecutor", Recording)
    _run(tmp_path, sample_subset, workers=2, shard_rows=200)
    assert {step for _, step in seen} == {"dedup_minhash"}
    assert {kind for kind, _ in seen} == {"KeysTask", "ApplyTask"}
