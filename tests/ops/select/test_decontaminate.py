"""decontaminate: exact spans, planted passages found, n and thresholds honoured, flag vs
remove, the same result on 1 and 2 workers, clear errors."""

import json
import random
import re
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_recipe, output_digest, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.errors import InputError, RecipeError
from thresher.manifest import find_step
from thresher.ops import OpContext
from thresher.ops.select.decontaminate import Decontaminate
from thresher.ops.select.overlap import word_spans
from thresher.report.lineage import explain

CTX = OpContext(step="decontaminate")


def _words(text: str) -> list[str]:
    """The reference normalization, written independently: NFKC, lowercase, runs of letters and digits."""
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).lower())


def _grams(text: str, n: int) -> set:
    w = _words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def _corpus():
    """Eval items and a corpus from different sources of the real sample: Jargon File entries
    as the eval set, the corpus without FOLDOC (which quotes the Jargon File, a real overlap
    that the op finds)."""
    rows = real_rows(6000, min_chars=200)
    evals = [r for r in rows if r["source"] == "jargon" and len(_words(r["text"])) >= 60][:40]
    docs = [r for r in rows if r["source"] not in ("jargon", "foldoc")][:600]
    return evals, docs


def _batch(rows):
    return pa.RecordBatch.from_pydict({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})


def _edit(text: str, rng: random.Random, every: int = 20) -> str:
    """One word in ``every`` replaced or followed by an inserted word, some words upper-cased,
    punctuation dropped or added: edits that keep runs of 13 untouched words."""
    words = text.split()
    out = []
    for i, w in enumerate(words):
        if i % every == every // 2:
            out.append(rng.choice(["banana", "quietly", "(sic)"]) if i % 2 else w + " really")
        elif i % 7 == 3:
            out.append(w.upper().strip(".,;:"))
        else:
            out.append(w + ("," if i % 11 == 5 else ""))
    return " ".join(out)


def _plant(doc: str, passage: str) -> str:
    cut = doc.find(" ", len(doc) // 2)
    cut = len(doc) if cut < 0 else cut
    return doc[:cut] + " " + passage + " " + doc[cut:]


def _expected_span(record: str, piece: str) -> tuple[int, int]:
    """Where ``piece`` lies in ``record``, from its first letter or digit to its last."""
    at = record.index(piece)
    chars = [m.start() for m in re.finditer(r"[^\W_]", piece)]
    return at + chars[0], at + chars[-1] + 1


def test_span_offsets_and_text_are_exact(tmp_path):
    evals, docs = _corpus()
    item = evals[3]
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    passage = " ".join(item["text"].split()[5:45])  # 40 whitespace words from inside the item
    shouted = passage.upper().replace(",", " ;")
    record = docs[0]["text"] + "\n\n" + shouted + "\n\n" + docs[1]["text"]
    result = Decontaminate(eval=[str(path)]).process(_batch([{"id": "x", "text": record}, docs[2]]), CTX)
    row = result.batch.to_pylist()[0]
    assert (row["th_decontam_start"], row["th_decontam_end"]) == _expected_span(record, shouted)
    assert row["th_decontam_span"] == record[row["th_decontam_start"]:row["th_decontam_end"]]
    assert _words(row["th_decontam_span"]) == _words(passage)
    assert row["th_decontam_eval_id"] == item["id"] and row["th_decontam_eval_file"] == "eval.jsonl"
    shared = len(_grams(record, 13) & set().union(*(_grams(e["text"], 13) for e in evals)))
    assert row["th_decontam_matches"] == shared == len(_words(passage)) - 12
    ratio = shared / (len(_words(record)) - 12)
    assert row["th_decontam_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert result.reasons[0] == (f"eval contamination: {shared} shared 13-grams (ratio {ratio:.3f}) with eval "
                                 f"item {item['id']!r} (eval.jsonl), chars {row['th_decontam_start']}-"
                                 f"{row['th_decontam_end']}")
    assert result.reasons[1] is None and result.batch.column("th_decontam_eval_id")[1].as_py() is None


def test_longest_run_is_reported_when_the_passage_is_cut_in_two(tmp_path):
    evals, docs = _corpus()
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    words = _words(evals[0]["text"])
    short, long = " ".join(words[0:15]), " ".join(words[30:55])
    record = short + " and then, elsewhere: " + long
    row = Decontaminate(eval=[str(path)]).process(_batch([{"id": "x", "text": record}]), CTX).batch.to_pylist()[0]
    assert row["th_decontam_span"] == long
    assert (row["th_decontam_start"], row["th_decontam_end"]) == (len(record) - len(long), len(record))
    assert row["th_decontam_matches"] == (15 - 12) + (25 - 12)


def test_planted_exact_and_edited_passages_are_found_and_nothing_else(tmp_path):
    evals, docs = _corpus()
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    rng = random.Random(0)
    planted = {}
    for k in range(30):
        item = evals[k % len(evals)]
        passage = item["text"] if k < 15 else _edit(item["text"], rng)
        docs[k * 7] = {**docs[k * 7], "text": _plant(docs[k * 7]["text"], passage)}
        planted[docs[k * 7]["id"]] = item["id"]
    result = Decontaminate(eval=[str(path)]).process(_batch(docs), CTX)
    flagged = {r["id"]: r["th_decontam_eval_id"] for r, why in zip(result.batch.to_pylist(), result.reasons) if why}
    assert flagged == planted
    index = set().union(*(_grams(e["text"], 13) for e in evals))  # a plain-Python reference
    assert set(flagged) == {d["id"] for d in docs if _grams(d["text"], 13) & index}


def test_n_is_honoured(tmp_path):
    evals, _ = _corpus()
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    twelve = " ".join(_words(evals[5]["text"])[10:22])
    batch = _batch([{"id": "x", "text": "Intro. " + twelve + " Outro."}])
    assert Decontaminate(eval=[str(path)]).process(batch, CTX).reasons == [None]
    row = Decontaminate(eval=[str(path)], n=12).process(batch, CTX).batch.to_pylist()[0]
    assert row["th_contaminated"] and row["th_decontam_matches"] == 1
    assert Decontaminate(eval=[str(path)], n=8).process(batch, CTX).batch.to_pylist()[0]["th_decontam_matches"] == 5


def test_min_matches_and_min_ratio(tmp_path):
    evals, docs = _corpus()
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    quote = " ".join(_words(evals[2]["text"])[:20])  # 8 shared 13-grams
    long_doc = {"id": "long", "text": docs[0]["text"] + " " + quote + " " + docs[1]["text"]}
    only = {"id": "only", "text": quote}
    batch = _batch([long_doc, only])
    assert Decontaminate(eval=[str(path)], min_matches=9).process(batch, CTX).reasons == [None, None]
    ratio = Decontaminate(eval=[str(path)], min_ratio=0.5).process(batch, CTX)
    assert ratio.reasons[0] is None and ratio.reasons[1] is not None
    assert ratio.batch.column("th_decontam_ratio").to_pylist()[1] == 1.0
    assert ratio.batch.column("th_decontam_matches").to_pylist() == [8, 8]


def test_unicode_offsets_point_into_the_original_text():
    text = "Cafe\u0301 ﬁne İstanbul ΟΔΟΣ x_y ½"
    spans = word_spans(text)
    assert [w for _, _, w in spans] == ["café", "fine", "istanbul", "οδοσ", "x", "y", "1", "2"]
    assert [text[a:b] for a, b, _ in spans] == ["Cafe\u0301", "ﬁne", "İstanbul", "ΟΔΟΣ", "x", "y", "½", "½"]


def test_unicode_record_against_an_nfc_eval_item(tmp_path):
    eval_text = "Le café où nous étions hier soir était fermé à cause de la grève générale des serveurs"
    path = write_jsonl(tmp_path / "eval.jsonl", [{"id": "fr", "text": eval_text}])
    record = "Note : " + unicodedata.normalize("NFD", eval_text.upper()) + " !"
    row = Decontaminate(eval=[str(path)]).process(_batch([{"id": "x", "text": record}]), CTX).batch.to_pylist()[0]
    assert row["th_contaminated"] and row["th_decontam_matches"] == len(eval_text.split()) - 12
    assert row["th_decontam_span"] == record[7:-2]


def test_flag_keeps_every_record_and_remove_explains(tmp_path):
    evals, docs = _corpus()
    evals_path = write_jsonl(tmp_path / "evals" / "jargon.jsonl", evals)
    docs = docs[:80]
    docs[3] = {**docs[3], "text": _plant(docs[3]["text"], evals[1]["text"])}
    data = write_jsonl(tmp_path / "docs.jsonl", docs)
    flag = run(Recipe.from_dict(make_recipe(tmp_path / "f", data, [{"decontaminate": {
        "eval": ["evals/jargon.jsonl"], "action": "flag"}}]), base_dir=tmp_path))
    kept = read_output(flag.output_dir, "kept")
    assert kept.num_rows == 80 and read_output(flag.output_dir, "removed").num_rows == 0
    assert kept.filter(kept.column("th_contaminated")).column("id").to_pylist() == [docs[3]["id"]]
    removed_run = run(Recipe.from_dict(make_recipe(tmp_path / "r", data, [{"decontaminate": {
        "eval": [str(evals_path)]}}])))
    removed = read_output(removed_run.output_dir, "removed")
    assert removed.column("id").to_pylist() == [docs[3]["id"]]
    assert removed.column("reason")[0].as_py().startswith(f"eval contamination: {len(_words(evals[1]['text'])) - 12} "
                                                          f"shared 13-grams (ratio ")
    text = explain(removed_run.output_dir, docs[3]["id"])
    assert "REMOVED  eval contamination" in text and f"th_decontam_eval_id={evals[1]['id']!r}" in text
    step = find_step(removed_run.manifest, "decontaminate")
    assert step["removed"] == {"eval contamination": 1}


def test_same_result_on_one_and_two_workers_with_a_shared_index_cache(tmp_path):
    evals, docs = _corpus()
    path = write_jsonl(tmp_path / "eval.jsonl", evals)
    for k in range(0, 200, 9):
        docs[k] = {**docs[k], "text": _plant(docs[k]["text"], _edit(evals[k % 40]["text"], random.Random(k)))}
    data = write_jsonl(tmp_path / "docs.jsonl", docs)
    step = [{"decontaminate": {"eval": [str(path)], "n": 10}}]
    one = run(Recipe.from_dict(make_recipe(tmp_path / "one", data, step)))
    two = run(Recipe.from_dict(make_recipe(tmp_path / "two", data, step, workers=2, shard_rows=100,
                                           cache_dir=str(tmp_path / "cache"))))
    assert output_digest(one.output_dir) == output_digest(two.output_dir)
    assert read_output(one.output_dir, "removed").num_rows >= 23
    cached = list((tmp_path / "cache" / "eval-index").glob("*/hashes.npy"))
    assert len(cached) == 1


def test_editing_the_eval_file_recomputes_the_step(tmp_path):
    evals, docs = _corpus()
    docs = docs[:50]
    docs[0] = {**docs[0], "text": _plant(docs[0]["text"], evals[0]["text"])}
    data = write_jsonl(tmp_path / "docs.jsonl", docs)
    path = write_jsonl(tmp_path / "eval.jsonl", evals[1:])
    recipe = make_recipe(tmp_path, data, [{"decontaminate": {"eval": [str(path)]}}])
    assert read_output(run(Recipe.from_dict(recipe)).output_dir, "removed").num_rows == 0
    write_jsonl(path, evals)
    assert read_output(run(Recipe.from_dict(recipe)).output_dir, "removed").column("id").to_pylist() == [docs[0]["id"]]


def test_parquet_eval_with_an_id_field_and_derived_ids(tmp_path):
    evals, docs = _corpus()
    pq.write_table(pa.table({"qid": [f"q{i}" for i in range(5)], "question": [e["text"] for e in evals[:5]]}),
                   tmp_path / "a.parquet")
    write_jsonl(tmp_path / "sub" / "b.jsonl", [{"text": e["text"]} for e in evals[5:10]])
    batch = _batch([{"id": "x", "text": evals[2]["text"]}, {"id": "y", "text": evals[7]["text"]}])
    op = Decontaminate(eval=[str(tmp_path / "a.parquet"), str(tmp_path / "sub" / "b.jsonl")],
                       eval_text_field="question", eval_id_field="qid")
    with pytest.raises(InputError, match=r"decontaminate.eval \(eval_text_field='question', eval_id_field='qid'\): "
                                         r"sub/b.jsonl:1: text field 'question' is missing"):
        op.process(batch, CTX)
    write_jsonl(tmp_path / "sub" / "b.jsonl", [{"question": e["text"], "qid": f"b{i}"} for i, e in
                                                enumerate(evals[5:10])])
    rows = op.process(batch, CTX).batch.to_pylist()
    assert [(r["th_decontam_eval_id"], r["th_decontam_eval_file"]) for r in rows] == \
        [("q2", "a.parquet"), ("b2", "sub/b.jsonl")]
    write_jsonl(tmp_path / "c.jsonl", [{"text": e["text"]} for e in evals[:3]])
    row = Decontaminate(eval=[str(tmp_path / "c.jsonl")]).process(batch, CTX).batch.to_pylist()[0]
    assert row["th_decontam_eval_id"] == "c.jsonl:3"


def test_bad_input_is_rejected_with_clear_errors(tmp_path):
    evals, docs = _corpus()
    data = write_jsonl(tmp_path / "docs.jsonl", docs[:10])
    recipe = make_recipe(tmp_path, data, [{"decontaminate": {"eval": ["evals/missing.jsonl"]}}])
    missing = str((tmp_path / "evals" / "missing.jsonl").resolve())
    with pytest.raises(RecipeError, match=f"decontaminate.eval: eval file '{re.escape(missing)}' does not exist"):
        Recipe.from_dict(recipe, base_dir=tmp_path)
    with pytest.raises(RecipeError, match="decontaminate.eval: eval file '/no/such/eval.jsonl' does not exist"):
        Decontaminate(eval=["/no/such/eval.jsonl"])
    with pytest.raises(RecipeError, match="decontaminate.eval is required"):
        Decontaminate()
    with pytest.raises(RecipeError, match="decontaminate.eval is required"):
        Decontaminate(eval=[])
    for bad in (0, -13, 13.0, "13", True):
        with pytest.raises(RecipeError, match=r"decontaminate.n must be an int in \[1, inf\), got"):
            Decontaminate(eval=[str(data)], n=bad)
    with pytest.raises(RecipeError, match=r"decontaminate.min_ratio must be a float in \(0, 1\] or null, got 1.5"):
        Decontaminate(eval=[str(data)], min_ratio=1.5)
    short = write_jsonl(tmp_path / "short.jsonl", [{"id": "s", "text": "Too short to hold thirteen words."}])
    step = {"decontaminate": {"eval": [str(short)]}}
    with pytest.raises(InputError, match=r"decontaminate.eval: the eval set \(short.jsonl\) has no 13-grams: none of "
                                         r"its 1 items has 13 words"):
        run(Recipe.from_dict(make_recipe(tmp_path / "s", data, [step])))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="decontaminate.eval .*empty.jsonl: the file is empty"):
        Decontaminate(eval=[str(empty)]).process(_batch(docs[:2]), CTX)
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": 1, "text": "ok"}) + "\n{not json\n")
    with pytest.raises(InputError, match="bad.jsonl:2: malformed JSON"):
        Decontaminate(eval=[str(tmp_path / "bad.jsonl")]).process(_batch(docs[:2]), CTX)


def test_the_report_names_the_item_sharing_most_with_the_record(tmp_path):
    evals, _ = _corpus()
    common = " ".join(_words(evals[0]["text"])[:40])
    own = " ".join(_words(evals[1]["text"])[:14])
    first = {"id": "first", "text": common + " " + " ".join(_words(evals[2]["text"])[:20])}
    second = {"id": "second", "text": common + " " + own}
    path = write_jsonl(tmp_path / "eval.jsonl", [first, second])
    record = {"id": "x", "text": "Seen: " + common + " " + own + "."}
    row = Decontaminate(eval=[str(path)]).process(_batch([record]), CTX).batch.to_pylist()[0]
    assert row["th_decontam_eval_id"] == "second"  # holds all 42 matched 13-grams, "first" the 28 of the common part
    assert row["th_decontam_matches"] == 54 - 12 and row["th_decontam_span"] == common + " " + own


def test_a_span_that_cannot_be_located_is_reported_without_offsets(tmp_path):
    hangul = "가나다라 마바사 아자차카 타파하 " * 4  # composed syllables
    path = write_jsonl(tmp_path / "eval.jsonl", [{"id": "ko", "text": hangul}])
    record = "Texte : " + unicodedata.normalize("NFD", hangul)  # conjoining jamo: NFKC composes them again
    result = Decontaminate(eval=[str(path)]).process(_batch([{"id": "x", "text": record}]), CTX)
    row = result.batch.to_pylist()[0]
    assert row["th_contaminated"] and row["th_decontam_matches"] == 16 - 12
    assert row["th_decontam_start"] is None and row["th_decontam_end"] is None
    assert row["th_decontam_span"] == " ".join(hangul.split()[:16])
    assert result.reasons[0].endswith("span not located")
