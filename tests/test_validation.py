"""Validate before work: a recipe whose steps cannot run is refused by `plan` and `run` with exit 2
and a message naming the step, the parameter and the column, before any stage directory exists."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PROSE, write_jsonl
from thresher.cli import main
from thresher.errors import InputError
from thresher.ops import Filter
from thresher.ops.base import OpContext


def _recipe(tmp_path: Path, steps: list, *, data: Path | None = None, columns: dict | None = None, **extra) -> Path:
    if data is None:
        rows = [{"id": f"r{i}", "text": t, "rank": i, "source": "gpl"} for i, t in enumerate(PROSE)]
        data = write_jsonl(tmp_path / "data.jsonl", rows)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"input": {"path": str(data), "columns": columns or {}}, "output": {"path": "out"},
                                    "executor": {"workers": 1}, "steps": steps, **extra}))
    return path


def _refused(tmp_path: Path, recipe: Path, capsys) -> str:
    """The error of `plan` and of `run` (the same), after checking that nothing was written."""
    messages = []
    for command in ("plan", "run"):
        assert main([command, str(recipe)]) == 2
        messages.append(capsys.readouterr().err)
        assert not (tmp_path / "out").exists()
    assert messages[0] == messages[1]
    return messages[0]


@pytest.mark.parametrize("steps, expected", [
    ([{"embed": {}}, {"sample_balanced": {"size": 2}}],
     "step 2 (sample_balanced) needs column th_cluster_path, made by hierarchical_kmeans: add it before this step"),
    ([{"kmeans": {"k": 2}}], "step 1 (kmeans) needs column th_embedding_key, made by embed: add it before this step"),
    ([{"filter": {"expr": "th_language == 'en'"}}, {"language": {}}],
     "step 1 (filter).expr needs column th_language, which step 2 (language) writes after it: move step 2 before "
     "step 1"),
    ([{"filter": {"expr": "lang == 'en'"}}],
     "step 1 (filter).expr: no column 'lang' in the input or written by an earlier step."),
    ([{"rebalance": {"label": "labl", "max_per_class": 2}}], "step 1 (rebalance).label: no column 'labl'"),
])
def test_missing_columns_are_refused_at_plan_time(tmp_path, capsys, steps, expected):
    assert expected in _refused(tmp_path, _recipe(tmp_path, steps), capsys)


def test_dedup_priority_lists_every_available_column(tmp_path, capsys):
    err = _refused(tmp_path, _recipe(tmp_path, [{"length": {}}, {"dedup_exact": {"priority": "nonexistent_col"}}]),
                   capsys)
    assert "step 2 (dedup_exact).priority: no column 'nonexistent_col'" in err
    assert "id, text, th_source, rank, source, th_chars, th_words, th_lines" in err


def test_columns_of_parquet_and_csv_inputs_are_read(tmp_path, capsys):
    pq.write_table(pa.table({"id": ["a"], "text": [PROSE[0]], "year": [2020]}), tmp_path / "d.parquet")
    err = _refused(tmp_path, _recipe(tmp_path, [{"filter": {"expr": "year > '2000'"}}],
                                     data=tmp_path / "d.parquet"), capsys)
    assert "step 1 (filter).expr: year > '2000' compares a number (year) with a string ('2000')" in err
    (tmp_path / "d.csv").write_text("id,text,year\na,hello,2020\n")
    err = _refused(tmp_path, _recipe(tmp_path, [{"dedup_exact": {"priority": "yaer"}}], data=tmp_path / "d.csv"),
                   capsys)
    assert "no column 'yaer'" in err and "Did you mean 'year'?" in err
    err = _refused(tmp_path, _recipe(tmp_path, [{"filter": {"expr": "year > 2000"}}], data=tmp_path / "d.csv"), capsys)
    assert "compares a string (year) with a number (2000); declare the column's type, e.g. input.columns: " \
           "{year: int64}" in err  # CSV values are strings unless declared
    declared = _recipe(tmp_path, [{"filter": {"expr": "year > 2000"}}], data=tmp_path / "d.csv",
                       columns={"year": "int64"})
    assert main(["plan", str(declared)]) == 0


def test_a_satisfied_recipe_still_plans(tmp_path, capsys):
    steps = [{"length": {}}, {"filter": {"expr": "th_words > 3 and rank >= 0"}},
             {"dedup_exact": {"priority": "rank"}}]
    assert main(["plan", str(_recipe(tmp_path, steps))]) == 0


def test_eval_label_missing_from_the_input(tmp_path, capsys):
    err = _refused(tmp_path, _recipe(tmp_path, [{"length": {}}], eval={"label": "sorce", "features": "tfidf"}), capsys)
    assert "eval.label: no column 'sorce' in the input or written by a step. Did you mean 'source'" in err
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "x", "topic": "a"}])
    recipe = _recipe(tmp_path, [], eval={"label": "source", "test": str(test), "features": "tfidf"})
    assert "eval.test: the test file" in _refused(tmp_path, recipe, capsys)


@pytest.mark.parametrize("keep, message", [(["english"], "'english' is not a language code of the lid.176 model. "
                                                         "Did you mean 'en'?"),
                                           (["en", "xx"], "'xx' is not a language code")])
def test_language_names_are_refused_with_the_code(tmp_path, capsys, keep, message):
    err = _refused(tmp_path, _recipe(tmp_path, [{"language": {"keep": keep}}]), capsys)
    assert "recipe step 1 (language): language.keep: " + message in err


def test_filter_syntax_error_points_at_the_end(tmp_path, capsys):
    err = _refused(tmp_path, _recipe(tmp_path, [{"filter": {"expr": "len(text) > 5 and"}}]), capsys)
    assert "invalid syntax at the end:\n  len(text) > 5 and\n                   ^" in err
    err = _refused(tmp_path, _recipe(tmp_path, [{"filter": {"expr": "a ==== b"}}]), capsys)
    assert "at column 5:\n  a ==== b\n      ^" in err


def test_filter_comparing_a_length_with_a_string(tmp_path, capsys):
    err = _refused(tmp_path, _recipe(tmp_path, [{"filter": {"expr": "len(text) > '5'"}}]), capsys)
    assert "filter.expr: len(text) > '5' compares a number (len(text)) with a string ('5')" in err


def test_filter_that_arrow_cannot_evaluate_names_step_and_expression():
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["x"], "tags": [["a", "b"]]})
    with pytest.raises(InputError, match=r"step filter_2: filter\.expr: cannot evaluate 'tags > 1' on these records "
                                         r"\(tags: list<item: string>\)"):
        Filter(expr="tags > 1").process(batch, OpContext(step="filter_2"))


def test_manifest_is_unchanged_by_the_checks(tmp_path, capsys):
    """A valid recipe runs to the end (the checks do not reject what works)."""
    assert main(["run", str(_recipe(tmp_path, [{"filter": {"expr": "rank >= 1"}}]))]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == len(PROSE) - 1


# --- thresher plan: what it counts -------------------------------------------------------------

def _fake_disk(free: int):
    import shutil

    real = shutil.disk_usage
    return lambda path: real(path)._replace(free=free)


def test_plan_counts_the_eval(tmp_path, capsys, monkeypatch):
    import psutil

    recipe = _recipe(tmp_path, [{"length": {}}], eval={"label": "source", "features": "embedding"})
    assert main(["plan", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "eval: embedding probe, holds" in out
    assert "estimated peak memory (peak RSS summed over the main process and its workers)" in out
    real = psutil.virtual_memory()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: real._replace(available=800 * 2**20))
    assert main(["plan", str(recipe)]) == 4
    assert "(the eval; " in capsys.readouterr().err
    assert main(["plan", str(_recipe(tmp_path, [{"length": {}}]))]) == 0  # the same without eval fits


def test_a_finished_run_reruns_on_a_full_disk(tmp_path, capsys, monkeypatch):
    recipe = _recipe(tmp_path, [{"length": {}}, {"pii": {}}, {"dedup_exact": {}}])
    assert main(["run", str(recipe)]) == 0
    monkeypatch.setattr("shutil.disk_usage", _fake_disk(1))
    assert main(["plan", str(recipe)]) == 0
    assert "estimated disk: 0 MiB to write; 5 of 5 stages done, reused" in capsys.readouterr().out
    assert main(["run", str(recipe)]) == 0
    assert main(["run", str(recipe), "--fresh"]) == 4  # nothing is reused then
    assert "set executor.fuse_row_steps: true, or choose" in capsys.readouterr().err


def test_full_disk_does_not_suggest_what_is_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage", _fake_disk(1))
    recipe = _recipe(tmp_path, [{"length": {}}, {"pii": {}}], executor={"workers": 1, "fuse_row_steps": True})
    assert main(["plan", str(recipe)]) == 4
    err = capsys.readouterr().err
    assert "estimated disk use" in err and "fuse_row_steps" not in err


def test_peak_memory_sums_the_process_tree(tmp_path):
    """The sampler counts a child's memory, which the main process's own peak never shows."""
    import subprocess
    import sys

    import psutil

    from thresher.exec.memory import PeakMemory, tree_rss

    before = tree_rss(psutil.Process())
    memory = PeakMemory(interval=0.05)
    subprocess.run([sys.executable, "-c", "import time; x = b'x' * (400 * 2**20); time.sleep(0.5)"], check=True)
    memory.stop()
    assert memory._box["peak"] >= before + 400 * 2**20  # sampled: not the main process's own high-water mark


def test_run_summary_says_what_peak_memory_counts(tmp_path, capsys):
    assert main(["run", str(_recipe(tmp_path, [{"length": {}}]))]) == 0
    out = capsys.readouterr().out
    assert "MiB  (peak RSS summed over the main process and its workers)" in out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["peak_rss_counts"] == "peak RSS summed over the main process and its workers"
