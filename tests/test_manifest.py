"""The run's metadata: one per-rule merge for tasks and stages, the manifest's format kept, its
load/write and common reads."""

import json

import pytest

from conftest import make_recipe, write_jsonl
from thresher import NotFoundError, Recipe, run
from thresher.manifest import (
    find_stage,
    find_step,
    load_manifest,
    merge_tasks,
    read_manifest,
    removed_counts,
    reused_stages,
    step_info,
    step_summaries,
    write_manifest,
)

TASKS = [
    {"rows_in": 10, "kept": 7, "seconds": 1.0, "maxrss_bytes": 100,
     "steps": {"length": {"in": 10, "removed": {"too short": 2}, "seconds": 0.25},
               "pii": {"in": 8, "removed": {"email": 1}, "seconds": 0.5}}},
    {"rows_in": 6, "kept": 4, "seconds": 2.0, "maxrss_bytes": 300,
     "steps": {"length": {"in": 6, "removed": {"too short": 1, "too long": 1}, "seconds": 0.25},
               "pii": {"in": 4, "removed": {}, "seconds": 0.5}}},
]


def test_merge_tasks_adds_up_rules_rows_and_time():
    stage = merge_tasks(TASKS, computed=1)
    assert stage["steps"]["length"] == {"in": 16, "removed": {"too short": 3, "too long": 1}, "seconds": 0.5}
    assert stage["steps"]["pii"] == {"in": 12, "removed": {"email": 1}, "seconds": 1.0}
    assert (stage["rows_in"], stage["kept"], stage["task_seconds"]) == (16, 11, 3.0)
    assert stage["peak_rss_bytes"] == 300 and stage["computed_units"] == 1


def test_step_summaries_follow_stage_order_and_keep_info():
    stages = [merge_tasks(TASKS, computed=2),
              {"steps": {"dedup_exact": {"in": 11, "removed": {"duplicate": 3}, "seconds": 4.0,
                                         "info": {"clusters": 2}}}}]
    steps = step_summaries(stages)
    assert [s["step"] for s in steps] == ["length", "pii", "dedup_exact"]
    assert [s["out"] for s in steps] == [12, 11, 8]
    assert steps[2]["info"] == {"clusters": 2} and "info" not in steps[0]


def test_manifest_reads(tmp_path):
    manifest = {"steps": step_summaries([merge_tasks(TASKS, computed=2)]),
                "stages": [{"stage": "ingest", "status": "reused"}, {"stage": "length+pii", "status": "computed"}]}
    assert find_step(manifest, "pii")["removed"] == {"email": 1}
    assert step_info(manifest, "pii") == {}
    with pytest.raises(NotFoundError, match=r"no step 'nope'; its steps: \['length', 'pii'\]"):
        find_step(manifest, "nope")
    assert find_stage(manifest, "length+pii")["status"] == "computed"
    assert removed_counts(manifest) == {("length", "too short"): 3, ("length", "too long"): 1, ("pii", "email"): 1}
    assert reused_stages(manifest) == 1
    assert read_manifest(tmp_path) is None
    with pytest.raises(NotFoundError, match="holds no manifest.json"):
        load_manifest(tmp_path)
    write_manifest(tmp_path, manifest)
    assert load_manifest(tmp_path) == manifest == json.loads((tmp_path / "manifest.json").read_text())


def test_manifest_format_is_unchanged(tmp_path, prose_rows):
    """The keys every earlier version wrote, so that older outputs and tools keep working."""
    path = write_jsonl(tmp_path / "in.jsonl", prose_rows)
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"length": {"min_words": 5}}, {"dedup_exact": {}}])))
    manifest = load_manifest(result.output_dir)
    assert manifest == result.manifest
    assert set(manifest) == {"thresher_version", "python", "pyarrow", "recipe", "seed", "workers", "inputs",
                             "stages", "steps", "counts", "final_fingerprint", "published", "seconds",
                             "peak_rss_bytes", "peak_rss_counts", "estimate", "cluster"}
    assert set(find_step(manifest, "length")) == {"step", "in", "out", "removed", "seconds", "op", "params",
                                                  "writes", "thresholds"}
    assert set(manifest["stages"][0]) == {"index", "stage", "kind", "status", "rows_in", "kept", "seconds",
                                          "task_seconds", "computed_units", "peak_rss_bytes", "fingerprint"}
    dedup = find_step(manifest, "dedup_exact")
    assert dedup["in"] == find_step(manifest, "length")["out"] == dedup["out"] + sum(dedup["removed"].values())


def test_the_input_step_counts_each_record_once_though_two_stages_report_it():
    from thresher.manifest import step_summaries

    ingest = {"steps": {"input": {"in": 10, "removed": {"invalid input": 1}, "seconds": 0.5}}}
    ids = {"steps": {"input": {"in": 9, "removed": {"duplicate id": 2}, "seconds": 0.1}}}
    length = {"steps": {"length": {"in": 7, "removed": {}, "seconds": 0.2}}}
    summary = {s["step"]: s for s in step_summaries([ingest, ids, length])}
    assert (summary["input"]["in"], summary["input"]["out"]) == (10, 7)
    assert summary["input"]["removed"] == {"invalid input": 1, "duplicate id": 2}
    assert (summary["length"]["in"], summary["length"]["out"]) == (7, 7)
