"""Every example recipe runs on the bundled sample; the README's Python example runs as written."""

import dataclasses
import re
from pathlib import Path

import pytest

from conftest import ROOT, read_output
from thresher import Recipe, run

EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "default.yaml")  # demo_output runs it


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_recipe_runs_and_accounts_for_every_record(path: Path, tmp_path):
    recipe = Recipe.from_yaml(path)
    recipe.output = dataclasses.replace(recipe.output, path=str(tmp_path / "out"))
    result = run(recipe, workers=2)
    counts = result.counts
    assert counts["input"] == counts["kept"] + counts["removed"] > 0
    assert counts["kept"] > 0
    for name in ("manifest.json", "report.html", "README.md"):
        assert (tmp_path / "out" / name).is_file()


def test_default_recipe_removes_by_every_kind_of_rule_and_ends_with_the_evaluation(demo_output):
    out, manifest = demo_output
    assert manifest["counts"]["input"] == manifest["counts"]["kept"] + manifest["counts"]["removed"]
    removed_by = {s["step"] for s in manifest["steps"] if sum(s["removed"].values())}
    assert {"language", "gopher_quality", "gopher_repetition", "fineweb_quality", "dedup_exact"} <= removed_by
    kept = read_output(out, "kept")
    assert set(kept.column("th_language").to_pylist()) == {"en"}
    assert manifest["eval"]["test"]["records"] > 0 and manifest["eval"]["config"]["label"] == "source"
    from thresher.report.summary import summary_table

    assert summary_table(manifest, out).splitlines()[-1].startswith("eval: curation")


def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(ROOT)
    code = code.replace('output="out/python"', f'output="{tmp_path / "python"}"')
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    assert namespace["result"].counts["kept"] > 0
