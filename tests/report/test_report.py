"""The report and the card: self-contained, and dataset content is always escaped."""

from conftest import make_recipe, write_jsonl
from thresher import Recipe, run

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
    card = (tmp_path / "out" / "card.md").read_text()
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
    section = html[html.index("<h2>Duplicate clusters</h2>"):html.index("<h2>Samples</h2>")]
    assert "<td class=n>3</td>" in section and "<small>orig</small>" in section
    assert "x-copy1, similarity 0." in section and "x-copy2, similarity" in section
    assert section.count(PROSE[0][:40]) == 3  # the kept text beside both copies
