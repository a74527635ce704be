"""thresher.read_output: a run's kept or removed records, every part, sorted by id, in each
output format."""

import pytest

from conftest import make_recipe, write_jsonl
from thresher import NotFoundError, Recipe, read_output, run

STEPS = [{"length": {"min_words": 5}}, {"dedup_exact": {}}]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz"])
def test_read_output_reads_every_part_sorted_by_id(tmp_path, prose_rows, fmt):
    rows = list(reversed(prose_rows))  # input order is not id order
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = make_recipe(tmp_path, path, STEPS, shard_rows=7)  # several parts
    recipe["output"]["format"] = fmt
    out = run(Recipe.from_dict(recipe)).output_dir
    assert len(list((out / "kept").glob("part-*"))) > 1
    kept, removed = read_output(out, "kept"), read_output(out, "removed")
    ids = kept.column("id").to_pylist() + removed.column("id").to_pylist()
    assert sorted(ids) == sorted(r["id"] for r in rows)  # nothing lost, nothing twice
    assert kept.column("id").to_pylist() == sorted(kept.column("id").to_pylist())
    assert removed.column("id").to_pylist() == sorted(removed.column("id").to_pylist())
    assert set(removed.column("removed_by").to_pylist()) == {"length", "dedup_exact"}
    assert read_output(out).equals(kept)  # kept is the default

    texts = read_output(out, "removed", columns=["text", "removed_by"])
    assert texts.column_names == ["text", "removed_by"]  # id read to sort, not returned
    assert texts.column("text").to_pylist() == removed.column("text").to_pylist()


def test_read_output_errors_and_empty_output(tmp_path, prose_rows):
    path = write_jsonl(tmp_path / "in.jsonl", prose_rows)
    out = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"length": {"min_words": 1000}}]))).output_dir
    assert read_output(out, "kept").num_rows == 0
    assert read_output(out, "removed").num_rows == len(prose_rows)
    with pytest.raises(ValueError, match="`which` must be one of"):
        read_output(out, "kept/")
    with pytest.raises(NotFoundError, match="no column 'nope'; its columns: "):
        read_output(out, "removed", columns=["nope"])
    with pytest.raises(NotFoundError, match="output directory of a finished run"):
        read_output(tmp_path / "elsewhere")
