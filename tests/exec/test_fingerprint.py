"""Stage fingerprints: editing what a stage's output depends on recomputes it, never a stale reuse."""

import dataclasses

from conftest import make_recipe, output_digest, read_output, write_jsonl
from thresher import Recipe, run

# 40 records in two classes (rebalance keeps a seeded random 5 of each), with two text fields.
ROWS = [{"id": f"r{i:02d}", "body": f"record number {i} of the test", "summary": "short" if i % 3 else
         "a summary long enough to keep", "label": "ab"[i % 2]} for i in range(40)]
REBALANCE = [{"rebalance": {"label": "label", "max_per_class": 5}}]
LENGTH = [{"length": {"min_words": 4}}]


def _recipe(tmp_path, steps, *, seed=0, text_field="body") -> Recipe:
    path = tmp_path / "in.jsonl"
    if not path.exists():  # written once: a rewrite would change the input's fingerprint by itself
        write_jsonl(path, ROWS)
    data = make_recipe(tmp_path, path, steps, shard_rows=20)
    data["seed"] = seed
    data["input"]["text_field"] = text_field
    return Recipe.from_dict(data, base_dir=tmp_path)


def _fresh_digest(tmp_path, recipe: Recipe) -> tuple:
    """The output of ``recipe`` run from scratch in its own directory."""
    out = tmp_path / "fresh-out"
    run(dataclasses.replace(recipe, output=dataclasses.replace(recipe.output, path=str(out))))
    return output_digest(out)


def _statuses(result) -> set:
    return {s["status"] for s in result.manifest["stages"]}


def test_editing_the_seed_recomputes_and_changes_a_seeded_choice(tmp_path):
    run(_recipe(tmp_path, REBALANCE, seed=0))
    before = read_output(tmp_path / "out", "kept").column("id").to_pylist()
    edited = _recipe(tmp_path, REBALANCE, seed=1)
    again = run(edited)
    after = read_output(tmp_path / "out", "kept").column("id").to_pylist()
    assert _statuses(again) == {"computed"}
    assert len(before) == len(after) == 10 and before != after  # another seeded draw
    assert output_digest(tmp_path / "out") == _fresh_digest(tmp_path, edited)


def test_editing_the_text_field_recomputes(tmp_path):
    run(_recipe(tmp_path, LENGTH, text_field="body"))
    before = output_digest(tmp_path / "out")
    edited = _recipe(tmp_path, LENGTH, text_field="summary")
    again = run(edited)
    assert _statuses(again) == {"computed"}
    assert output_digest(tmp_path / "out") != before
    assert output_digest(tmp_path / "out") == _fresh_digest(tmp_path, edited)


def test_text_field_decides_what_the_steps_read(tmp_path):
    run(_recipe(tmp_path, LENGTH, text_field="summary"))
    kept = read_output(tmp_path / "out", "kept")
    assert kept.column("id").to_pylist() == [r["id"] for r in ROWS if r["summary"] != "short"]
