"""The command line: commands, messages and exit codes that scripts can rely on."""

import subprocess
import sys

import pytest
import yaml

from conftest import make_recipe, write_jsonl
from thresher.cli import main


@pytest.fixture
def recipe(tmp_path, prose_rows):
    data = write_jsonl(tmp_path / "d.jsonl", prose_rows)
    steps = [{"length": {"min_words": 5}}, {"dedup_exact": {}}]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(make_recipe(tmp_path, data, steps)))
    return path


def test_run_prints_summary_and_report_path(recipe, capsys):
    assert main(["run", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "records in" in out and "kept" in out and "exact duplicate" in out
    assert "report:" in out and "report.html" in out


def test_explain_and_inspect(recipe, tmp_path, capsys):
    main(["run", str(recipe)])
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "out"), "doc-013"]) == 0
    out = capsys.readouterr().out
    assert "removed by dedup_exact" in out and "duplicate of 'doc-001'" in out and "length" in out
    assert main(["explain", str(tmp_path / "out"), "doc-001"]) == 0
    assert "'doc-001': kept" in capsys.readouterr().out
    assert main(["explain", str(tmp_path / "out"), "no-such-id"]) == 7
    assert "no record with id 'no-such-id'" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "out")]) == 0
    assert "dedup_exact / exact duplicate" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "nowhere")]) == 7


def test_inspect_after_a_rerun_shows_the_compute_time_beside_the_rerun(recipe, tmp_path, capsys):
    """A rerun that reuses every stage takes a moment; ``inspect`` says so and also what computing
    the output took (each stage keeps the seconds of the run that computed it)."""
    import json

    main(["run", str(recipe)])
    first = json.loads((tmp_path / "out" / "manifest.json").read_text())
    main(["run", str(recipe)])
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "out")]) == 0
    compute = sum(s["seconds"] for s in first["stages"])
    n = len(first["stages"])
    note = f"(this run; {n} of {n} stages reused; computing every stage took {compute:.1f} s)"
    assert note in capsys.readouterr().out
    html = (tmp_path / "out" / "report.html").read_text()
    assert f"computing every stage took {compute:.1f} s" in html


def test_plan_shows_stages_and_refuses_what_does_not_fit(recipe, capsys):
    assert main(["plan", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "dedup_exact" in out and "estimated peak memory" in out and "fits: yes" in out
    assert main(["plan", str(recipe), "--workers", "400"]) == 4
    assert "lower executor.workers" in capsys.readouterr().err


def test_ops_lists_every_op_and_shows_parameters(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    for name in ("normalize", "length", "language", "pii", "filter", "dedup_exact"):
        assert name in out
    flat = " ".join(out.split())
    assert "connected components, and one kept document per component. ngram=5" in flat  # not cut mid-sentence
    from thresher.ops.registry import all_ops
    from thresher.report.opdoc import first_sentence

    for cls in all_ops().values():
        assert first_sentence(cls.__doc__)[-1] in ".!?" and first_sentence(cls.__doc__) in flat
    assert max(len(line) for line in out.splitlines()) <= 100
    assert main(["ops", "language"]) == 0
    assert "min_score = 0.65" in capsys.readouterr().out
    assert main(["ops", "lenght"]) == 2
    assert "Did you mean 'length'" in capsys.readouterr().err


def test_exit_codes_for_bad_recipe_and_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {path: d.jsonl}\noutput: {path: out}\nsteps:\n  - length: {min_word: 3}\n")
    assert main(["run", str(bad)]) == 2
    assert "recipe step 1 (length): length has no parameter 'min_word'" in capsys.readouterr().err
    (tmp_path / "d.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    good = tmp_path / "good.yaml"
    good.write_text("input: {path: d.jsonl}\noutput: {path: out}\n")
    assert main(["run", str(good)]) == 3
    assert "d.jsonl:2: malformed JSON" in capsys.readouterr().err


def test_help_and_usage_errors_from_the_real_command():
    helped = subprocess.run([sys.executable, "-m", "thresher.cli", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "exit codes" in helped.stdout and "explain" in helped.stdout
    usage = subprocess.run([sys.executable, "-m", "thresher.cli", "run"], capture_output=True, text=True)
    assert usage.returncode == 2 and "recipe" in usage.stderr
    workers = subprocess.run([sys.executable, "-m", "thresher.cli", "run", "x.yaml", "--workers", "0"],
                             capture_output=True, text=True)
    assert workers.returncode == 2 and "must be an integer >= 1" in workers.stderr
