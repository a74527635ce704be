"""dedup_lines: lines repeated across documents are removed, the rest of each text kept."""

import pyarrow as pa
import pytest

from conftest import PROSE, make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.ops import OpContext
from thresher.ops.dedup import lines
from thresher.ops.dedup.lines import DedupLines

NAV = "Home | About us | Contact"
FOOTER = "Copyright 2019 Example Corp. All rights reserved."


def _docs():
    rows = [{"id": f"p{i}", "text": f"{NAV}\n{text}\n{FOOTER.replace('2019', str(2010 + i))}"}
            for i, text in enumerate(PROSE[:3])]
    rows.append({"id": "only-boilerplate", "text": f"{NAV}\n\n{FOOTER}"})
    rows.append({"id": "clean", "text": PROSE[3] + "\n" + PROSE[3][:20]})
    return rows


def test_repeated_lines_go_and_documents_keep_the_rest(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", _docs())
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_lines": {}}]), base_dir=tmp_path))
    kept = {r["id"]: r for r in read_output(tmp_path / "out", "kept").to_pylist()}
    removed = {r["id"]: r for r in read_output(tmp_path / "out", "removed").to_pylist()}
    for i, text in enumerate(PROSE[:3]):  # the footer differs only by its year: digits do not count
        assert kept[f"p{i}"]["text"] == text and kept[f"p{i}"]["th_lines_removed"] == 2
    assert kept["clean"]["text"] == PROSE[3] + "\n" + PROSE[3][:20]  # untouched, byte for byte
    assert kept["clean"]["th_lines_removed"] == 0
    gone = removed["only-boilerplate"]
    assert gone["text"] == f"{NAV}\n\n{FOOTER}"  # removed records keep their original text
    assert gone["reason"] == "boilerplate: 2 repeated line(s) removed, 0 word(s) left"


def test_max_repeats_and_paragraphs():
    batch = pa.RecordBatch.from_pylist(_docs())
    ctx = OpContext()
    strict = DedupLines(max_repeats=4)
    assert strict.decide(strict.keys(batch, ctx), ctx).num_rows == 0  # 4 documents share each line
    paragraphs = DedupLines(unit="paragraph", max_repeats=1)
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": [
        f"{PROSE[0]}\n\n{NAV}\nline two", f"{PROSE[1]}\n  \n{NAV}\nline two", f"{NAV}\nline two\n\n{PROSE[2]}"]})
    result = paragraphs.apply(batch, paragraphs.decide(paragraphs.keys(batch, ctx), ctx), ctx)
    assert result.batch.column("text").to_pylist() == PROSE[:3]


def test_spilled_counting_matches(tmp_path, monkeypatch):
    batch = pa.RecordBatch.from_pylist(_docs() * 3 + [{"id": f"x{i}", "text": p} for i, p in enumerate(PROSE)])
    keys = DedupLines().keys(batch, OpContext())
    in_memory = DedupLines().decide(keys, OpContext())
    assert in_memory.num_rows >= 5  # every line of the repeated documents
    written = []
    monkeypatch.setattr(lines, "memory_budget", lambda mb: 64)  # a partition per 2 hashes
    monkeypatch.setattr(lines.Partitions, "close", lambda self: written.extend(self.directory.iterdir()))
    spilled = DedupLines().decide(keys, OpContext(work_dir=tmp_path, step="lines"))
    assert spilled.equals(in_memory) and len(written) > 5


def test_bad_parameters():
    with pytest.raises(RecipeError, match="dedup_lines.unit must be one of 'line', 'paragraph'"):
        DedupLines(unit="sentence")
    with pytest.raises(RecipeError, match=r"dedup_lines.max_repeats must be an int in \[1, inf\), got 0"):
        DedupLines(max_repeats=0)
