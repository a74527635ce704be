"""The report and the card: self-contained, and dataset content is always escaped."""

from conftest import make_recipe, write_jsonl
from thresher import Recipe, run
from thresher.manifest import find_step

HOSTILE = [
    "<script>document.title='pwned'</script> and some more words to keep it",
    "<img src=x onerror=alert(1)> the image tag should show as text here",
    "\"'><svg onload=alert(2)> quote breaking attempt with enough words",
]


def test_hostile_text_ids_and_reasons_are_escaped(tmp_path):
    rows = [{"id": f"<b id='{i}'>", "text": t, "</td><script>x=1</script>": "meta"} for i, t in enumerate(HOSTILE)]
    rows.append({"id": "dup", "text": HOSTILE[0]})
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    result = run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_exact": {}}]), base_dir=tmp_path))
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script>document" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;document.title=" in html
    assert html.count("<script>") == 1  # only the report's own search script
    assert "http://" not in html and "https://" not in html  # no network resources
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"{result.counts['kept']:,} of {result.counts['input']:,}" in card
    assert "dedup_exact" in card and "## How to reproduce" in card


def test_duplicate_clusters_show_the_kept_record_beside_its_copies(tmp_path):
    from conftest import PROSE

    text = PROSE[0] + " " + PROSE[1]
    rows = [{"id": "orig", "text": text}, {"id": "x-copy1", "text": text.replace("practical", "useful")},
            {"id": "x-copy2", "text": text + " Thanks."}, {"id": "other", "text": PROSE[2]}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_minhash": {}}]), base_dir=tmp_path))
    html = (tmp_path / "out" / "report.html").read_text()
    section = html[html.index("<h2>Duplicate clusters</h2>"):html.index("<h2>Samples and lineage</h2>")]
    assert "<td class=n>3</td>" in section and "<small>orig</small>" in section
    assert "x-copy1, similarity 0." in section and "x-copy2, similarity" in section
    assert section.count(PROSE[0][:40]) == 3  # the kept text beside both copies


def test_step_details_show_balancing_and_classes_escaped(tmp_path, sample_subset):
    import json

    rows = [json.loads(line) for line in sample_subset.read_text(encoding="utf-8").splitlines()[:400]]
    for i, r in enumerate(rows):
        r["label"] = "<i>big</i>" if i % 5 else "<script>small</script>"
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    steps = [{"rebalance": {"label": "label", "max_ratio": 2.0}}, {"embed": {"model": "static"}},
             {"hierarchical_kmeans": {"levels": [8, 2]}}, {"sample_balanced": {"size": 50}}]
    run(Recipe.from_dict(make_recipe(tmp_path, data, steps), base_dir=tmp_path))
    html = (tmp_path / "out" / "report.html").read_text()
    section = html[html.index("<h2>Step details</h2>"):html.index("<h2>Samples and lineage</h2>")]
    assert "&lt;script&gt;small&lt;/script&gt;</td><td class=n>80</td>" in section
    assert "<td class=n>160</td>" in section  # the big class capped at 2 x 80
    assert "aria-label='leaf cluster sizes'" in section and section.count("<polyline") == 2
    assert html.count("<script>") == 1


def test_score_histograms_split_passed_and_removed_with_thresholds(tmp_path):
    from conftest import read_output, real_rows
    from thresher.report.stats import distributions, score_histograms

    data = write_jsonl(tmp_path / "d.jsonl", real_rows(400))
    steps = [{"language": {"keep": ["en"], "min_score": 0.5}}, {"length": {"min_words": 30}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, data, steps), base_dir=tmp_path))
    hists = {h["column"]: h for h in score_histograms(tmp_path / "out", result.manifest)}
    removed = read_output(tmp_path / "out", "removed")
    by_length = removed.column("removed_by").to_pylist().count("length")
    words = hists["th_words"]
    assert words["thresholds"] == [30] and words["step"] == "length"
    assert sum(words["removed"]) == by_length == words["outside"] > 0
    language = find_step(result.manifest, "language")
    assert sum(words["passed"]) + by_length == language["out"]
    assert hists["th_chars"]["thresholds"] is None  # declared but not set: the report folds it away
    assert hists["th_language_score"]["thresholds"] == [0.5]
    langs = distributions(tmp_path / "out")["th_language"]
    assert sum(langs["before"].values()) == result.counts["input"]
    assert set(langs["after"]) == {"en"} and langs["after"]["en"] == result.counts["kept"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "th_words" in html and "Languages and classes" in html


def test_report_samples_carry_their_lineage_and_cli_rewrites_the_report(tmp_path, capsys):
    from conftest import real_rows
    from thresher.cli import main

    data = write_jsonl(tmp_path / "d.jsonl", real_rows(200))
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"length": {"min_words": 30}}]), base_dir=tmp_path))
    report = tmp_path / "out" / "report.html"
    report.unlink()
    assert main(["report", str(tmp_path / "out")]) == 0
    html = report.read_text()
    assert "<details><summary>lineage</summary>" in html
    assert "<td class=removed>removed</td><td>too few words: " in html.replace("<small>", "").replace("</small>", "")


def test_a_10000_character_id_is_cut_with_the_whole_value_on_demand(tmp_path):
    """A huge id (kept, removed and as ``dup_of``) or a text without spaces cannot widen the page:
    cells wrap anywhere, ids show their first 80 characters with the rest in a ``<details>``."""
    long_id, word = "x" * 10_000, "y" * 5_000
    rows = [{"id": long_id, "text": f"{word} and more words"}, {"id": "z" + long_id, "text": f"{word} and more words"},
            {"id": "short", "text": "a short record with a few words"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_exact": {}}]), base_dir=tmp_path))
    html = (tmp_path / "out" / "report.html").read_text()
    assert f">{long_id}<" not in html.replace("<span>" + long_id + "</span>", "")  # never shown whole in a cell
    assert f"<details class=full><summary>{'x' * 80}…</summary><span>{long_id}</span></details>" in html
    assert f"dup of <details class=full><summary>{'x' * 80}…" in html
    assert "overflow-wrap:anywhere" in html
