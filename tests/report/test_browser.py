"""The report in a real browser (Debian's chromium driven by Playwright): every section renders
with data, search finds a removed record and shows why, nothing logs an error, and hostile
dataset content shows as text and never runs."""

import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from conftest import make_recipe, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.report.samples import removed_samples

SECTIONS = ("funnel", "reasons", "scores", "distributions", "evaluation", "clusters", "samples", "stages")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "the browser test needs Debian's chromium package (`make test` installs it)"
    return path


def _open(report: Path, screenshot: Path, check):
    """Load ``report``, run ``check(page)``, save a full-page screenshot; return console errors."""
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            page.goto(report.as_uri())
            check(page)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return errors


def test_demo_report_renders_every_section_and_search_explains_a_removed_record(demo_output, tmp_path):
    out, manifest = demo_output
    step, rule = "language", "language not kept"
    wanted = removed_samples(out, manifest=manifest)[(step, rule)][0]

    def check(page):
        for key in SECTIONS:
            section = page.locator(f"section#{key}")
            assert section.is_visible(), key
            assert section.locator("svg, table").count() > 0, f"section {key} has no plot or table"
        assert page.locator("#funnel rect").count() >= 2 * len(manifest["steps"]) - 2
        assert page.locator("#scores figure").count() > 0
        assert "curation" in page.locator("#evaluation .verdict").inner_text()
        page.fill("#q", wanted["id"])
        rows = page.locator("#samples tr.rec:visible")
        assert rows.count() == 1
        text = rows.first.inner_text()
        assert wanted["id"] in text and wanted["reason"] in text and "removed" in text
        lineage = rows.first.locator("details")
        assert lineage.get_attribute("open") is not None  # a search opens the lineage of what it finds
        assert "language" in lineage.inner_text() and "removed" in lineage.inner_text()
        page.fill("#q", "no record has this text 7f3a9")
        assert page.locator("#samples tr.rec:visible").count() == 0
        assert page.locator("#nohit").is_visible()

    shot = tmp_path / "demo-report.png"
    assert _open(out / "report.html", shot, check) == []
    assert shot.stat().st_size > 50_000


HOSTILE = {
    "script": "<script>window.__pwned = 'script'</script> a short note",
    "img": "<img src=x onerror=\"window.__pwned = 'img'\"> the image tag must show as text",
    "svg": "\"'><svg onload=\"window.__pwned = 'svg'\"></svg> quote breaking",
    "link": "<a href=\"javascript:window.__pwned = 'link'\">click</a> javascript: URL",
    "style": "</style><style>body{display:none}</style> style breaking",
}


def test_hostile_content_shows_literally_and_never_executes(tmp_path):
    rows = []  # first, so that kept ones are among the report's first kept samples
    for i, (kind, text) in enumerate(HOSTILE.items()):
        rows.append({"id": f"<b>{kind}</b>'\"{i}", "text": text, "source": f"<i onmouseover=x>{kind}",
                     "url": "javascript:window.__pwned='url'", "<img src=x onerror=window.__pwned=1>": kind})
    rows.append({"id": "copy-of-img", "text": HOSTILE["img"], "source": "x"})
    rows += real_rows(120)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    recipe = make_recipe(tmp_path, data, [{"length": {"min_words": 8}}, {"dedup_exact": {}}])
    run(Recipe.from_dict(recipe, base_dir=tmp_path))

    def check(page):
        for text in HOSTILE.values():
            page.fill("#q", text[:25])
            assert text in page.locator("#samples").inner_text()  # visible, literally
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#samples script, #samples img, #samples svg[onload], #samples a").count() == 0
        assert page.locator("body").is_visible()

    assert _open(tmp_path / "out" / "report.html", tmp_path / "hostile.png", check) == []


def test_a_10000_character_id_keeps_the_page_as_wide_as_the_window(tmp_path):
    """Ids and texts of 10,000 characters without a space (kept, removed, ``dup_of``) wrap or are
    cut: the page does not scroll sideways, and a click shows the whole id."""
    long_id, word = "i" * 10_000, "w" * 10_000
    rows = [{"id": long_id, "text": word}, {"id": long_id + "2", "text": word}, *real_rows(20)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_exact": {}}]), base_dir=tmp_path))

    def check(page):
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.fill("#q", long_id + "2")  # the search still finds a record by its whole id
        assert page.locator("#samples tr.rec:visible").count() == 1
        summary = page.locator("#samples tr.rec:visible details.full summary").first
        summary.click()
        assert long_id in page.locator("#samples tr.rec:visible details.full").first.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    assert _open(tmp_path / "out" / "report.html", tmp_path / "long-id.png", check) == []
