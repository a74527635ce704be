"""Stage fingerprints: editing what a stage's output depends on recomputes it, never a stale reuse.

Inputs (and the files an op reads) are fingerprinted by their content (xxh3-128), not by size
and mtime: a file changed with the same size and mtime (a copy tool, ``rsync -t``, a checkout)
recomputes, and a file only touched reuses every stage."""

import dataclasses
import json
import os
from pathlib import Path

import xxhash

from conftest import PROSE, make_recipe, output_digest, read_output, write_jsonl
from thresher import Recipe, run
from thresher.exec.plan import make_plan

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


# --- content fingerprints -------------------------------------------------------------------------

STEPS = [{"filter": {"expr": "not text.contains('MARKER')"}}, {"dedup_exact": {}}]


def _rows(marked: int) -> list[dict]:
    return [{"id": f"r{i}", "text": f"{PROSE[i % 4]} {i} " + ("MARKER" if i == marked else "marker")}
            for i in range(8)]


def _rewrite_keeping_size_and_mtime(path: Path, rows: list[dict]) -> None:
    stat = path.stat()
    write_jsonl(path, rows)
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _recipe_on(tmp_path: Path, data: Path, steps=STEPS) -> Recipe:
    return Recipe.from_dict({"input": str(data), "output": str(tmp_path / "out"), "executor": {"workers": 1},
                             "steps": steps})


def test_changed_content_with_the_same_size_and_mtime_recomputes(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", _rows(marked=2))
    first = run(_recipe_on(tmp_path, data))
    assert read_output(tmp_path / "out", "removed").column("id").to_pylist() == ["r2"]
    _rewrite_keeping_size_and_mtime(data, _rows(marked=5))
    second = run(_recipe_on(tmp_path, data))
    assert _statuses(second) == {"computed"}, second.manifest["stages"]
    assert read_output(tmp_path / "out", "removed").column("id").to_pylist() == ["r5"]
    assert first.manifest["inputs"][0]["xxh3"] != second.manifest["inputs"][0]["xxh3"]
    assert second.manifest["inputs"][0]["xxh3"] == xxhash.xxh3_128_hexdigest(data.read_bytes())


def test_a_touched_file_with_the_same_content_reuses_every_stage(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", _rows(marked=2))
    run(_recipe_on(tmp_path, data))
    os.utime(data, ns=(1, 10**18))
    assert _statuses(run(_recipe_on(tmp_path, data))) == {"reused"}


def test_an_op_side_file_is_fingerprinted_by_content(tmp_path):
    """An eval set (decontaminate), changed with the same size and mtime: its stage recomputes,
    and the op's eval index (cached across runs) is rebuilt, not reused."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(PROSE)])
    evals = tmp_path / "eval.jsonl"
    eval_rows = [{"id": "e", "text": PROSE[0][:120]}, {"id": "f", "text": "x" * 120}]
    write_jsonl(evals, eval_rows)
    steps = [{"decontaminate": {"eval": [str(evals)], "n": 8}}]
    recipe = _recipe_on(tmp_path, data, steps)
    before = [s.fingerprint for s in make_plan(recipe).stages]
    run(recipe)
    assert read_output(tmp_path / "out", "removed").column("id").to_pylist() == ["r0"]
    _rewrite_keeping_size_and_mtime(evals, [eval_rows[1], {"id": "e", "text": PROSE[2][:120]}])
    after = [s.fingerprint for s in make_plan(recipe).stages]
    assert before[:-1] == after[:-1] and before[-1] != after[-1]
    run(recipe)
    assert read_output(tmp_path / "out", "removed").column("id").to_pylist() == ["r2"]


def test_a_hf_dataset_directory_is_hashed_by_its_files(tmp_path):
    from thresher.io.files import content_hash

    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps({"_data_files": []}))
    (folder / "data.arrow").write_bytes(b"abc")
    first = content_hash(folder)
    (folder / "data.arrow").write_bytes(b"abd")
    assert content_hash(folder) != first
    assert content_hash(folder, block=2) == content_hash(folder)  # blocks do not change the hash
