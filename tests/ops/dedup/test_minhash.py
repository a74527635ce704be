"""dedup_minhash: near-duplicates of real text found, different texts kept, deterministic."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import PROSE, SAMPLE, make_recipe, read_output, write_jsonl
from thresher import Recipe, run
from thresher.errors import RecipeError
from thresher.ops import KeyParts, OpContext
from thresher.ops.dedup.lsh import optimal_bands, shingle_sets, signatures
from thresher.ops.dedup.minhash import DedupMinhash

# datasketch.lsh._optimal_param(threshold, num_perm, 0.5, 0.5), recorded from datasketch 2.0.0.
DATASKETCH = {(0.5, 64): (14, 4), (0.5, 128): (25, 5), (0.5, 256): (42, 6), (0.7, 64): (8, 8), (0.7, 128):
              (14, 9), (0.7, 256): (25, 10), (0.8, 64): (5, 11), (0.8, 128): (9, 13), (0.8, 256): (17, 15),
              (0.9, 64): (3, 21), (0.9, 128): (5, 25), (0.9, 256): (9, 28)}


@pytest.mark.parametrize("setting", sorted(DATASKETCH))
def test_bands_and_rows_are_datasketchs(setting):
    assert optimal_bands(*setting) == DATASKETCH[setting]


def _long_docs(n=30):
    """Real fortunes of at least 40 words from the bundled sample, distinct."""
    docs, seen = [], set()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        for line in src:
            rec = json.loads(line)
            words = rec["text"].split()
            if rec["source"] == "fortunes" and len(words) >= 40 and rec["text"] not in seen:
                seen.add(rec["text"])
                docs.append(rec)
            if len(docs) == n:
                break
    return docs


def _edit(text: str, every: int) -> str:
    """Drop one word in every ``every``: a near-duplicate whose similarity falls as edits grow."""
    words = text.split()
    return " ".join(w for i, w in enumerate(words) if i % every != every - 1)


def test_estimated_similarity_follows_true_jaccard():
    text = PROSE[0] + " " + PROSE[1]
    sigs = signatures(pa.array([text, _edit(text, 40), text.upper()]), 5, 256, 0)
    assert (sigs[0] == sigs[2]).all()  # case and punctuation do not matter
    assert 0.6 < (sigs[0] == sigs[1]).mean() < 1.0


def _jaccard(a: str, b: str, n: int = 5) -> float:
    def shingles(text):
        words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_finds_planted_near_duplicates_and_keeps_distinct_texts(tmp_path):
    docs = _long_docs()
    rows = [{"id": f"a-orig-{i:02d}", "text": d["text"]} for i, d in enumerate(docs)]
    near = [{"id": f"b-near-{i:02d}", "text": _edit(d["text"], 30 + i)} for i, d in enumerate(docs[:10])]
    truth = {r["id"]: _jaccard(r["text"], docs[i]["text"]) for i, r in enumerate(near)}
    assert sum(j >= 0.8 for j in truth.values()) >= 5  # the test plants real near-duplicates
    data = write_jsonl(tmp_path / "d.jsonl", rows + near)
    step = {"dedup_minhash": {"threshold": 0.7, "bands": 32, "rows": 4, "verify": "signature"}}
    run(Recipe.from_dict(make_recipe(tmp_path, data, [step]), base_dir=tmp_path))
    removed = {r["id"]: r for r in read_output(tmp_path / "out", "removed").to_pylist()}
    assert {i for i, j in truth.items() if j >= 0.8} <= set(removed)
    for row in removed.values():  # only planted copies go, each pointing at its original
        assert row["id"].startswith("b-near-") and row["dup_of"] == "a-orig-" + row["id"][7:]
        assert row["cluster_size"] == 2 and 0.7 <= row["score"] <= 1
        assert row["reason"].startswith("near duplicate: of a-orig-")


def test_priority_decides_which_copy_stays():
    text = PROSE[2] + " " + PROSE[3]
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": [text, text + " Indeed.", PROSE[0]],
                                        "q": [0.1, 0.9, 0.5]})
    op = DedupMinhash(priority="q", threshold=0.5)
    decisions = op.decide(op.keys(batch, OpContext()), OpContext())
    assert decisions.column("id").to_pylist() == ["a"]
    assert decisions.column("dup_of").to_pylist() == ["b"]


def _chain() -> pa.RecordBatch:
    """A~B and B~C above 0.8, A and C below: 300 distinct words, B with one word in 60
    replaced, C with another one in 60 replaced in B."""
    def edit(words, start, tag):
        return [f"{tag}{i}" if i % 60 == start else w for i, w in enumerate(words)]

    a = [f"w{i}" for i in range(300)]
    b = edit(a, 3, "b")
    c = edit(b, 33, "c")
    return pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": [" ".join(x) for x in (a, b, c)]})


def test_a_chain_joins_a_component_unless_linkage_is_verified():
    batch = _chain()
    a, b, c = batch.column("text").to_pylist()
    assert _jaccard(a, b) >= 0.8 and _jaccard(b, c) >= 0.8 and _jaccard(a, c) < 0.75
    component, ctx = DedupMinhash(), OpContext()
    removed = component.decide(component.keys(batch, ctx), ctx).to_pydict()
    assert removed["id"] == ["b", "c"] and removed["dup_of"] == ["a", "a"]
    assert removed["score"][1] < 0.8 and ctx.info["removed_below_threshold"] >= 1  # c: through b
    verified, ctx = DedupMinhash(linkage="verified"), OpContext()
    removed = verified.decide(verified.keys(batch, ctx), ctx).to_pydict()
    assert removed["id"] == ["b"] and removed["dup_of"] == ["a"] and removed["score"][0] >= 0.8
    assert removed["cluster_size"] == [2]  # a and c kept
    exact, ctx = DedupMinhash(linkage="verified", verify="exact"), OpContext()
    assert exact.decide(exact.keys(batch, ctx), ctx).column("id").to_pylist() == ["b"]
    assert "removed_below_threshold" not in ctx.info


def _check_verified(op: DedupMinhash, batch: pa.RecordBatch, decisions: pa.Table) -> None:
    """Every removed record is within the threshold of its kept ``dup_of``, and no two kept
    records that a dedup by components would merge are."""
    removed = set(decisions.column("id").to_pylist())
    if op.verify != "exact":  # with exact, the shingle sets' Jaccard (not the score) reaches it
        assert min(decisions.column("score").to_pylist()) >= op.threshold
    assert not removed & set(decisions.column("dup_of").to_pylist())
    kept_ids = [i for i in batch.column("id").to_pylist() if i not in removed]
    kept = batch.filter(pa.array([i not in removed for i in batch.column("id").to_pylist()]))
    again = DedupMinhash(linkage="verified", verify=op.verify)
    assert again.decide(again.keys(kept, OpContext()), OpContext()).num_rows == 0, kept_ids[:3]


def test_verify_signature_only_removes_links_below_threshold():
    text = PROSE[0] + " " + PROSE[1]
    docs = [text, text.replace("practical", "useful"), PROSE[2]]  # one word changed: Jaccard ~0.86
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b", "c"], "text": docs})
    loose = DedupMinhash(threshold=0.5, bands=32, rows=2)
    strict = DedupMinhash(threshold=0.95, bands=32, rows=2, verify="signature")
    ctx = OpContext()
    assert loose.decide(loose.keys(batch, ctx), ctx).num_rows == 1
    assert strict.decide(strict.keys(batch, ctx), ctx).num_rows == 0


def test_empty_and_short_documents():
    batch = pa.RecordBatch.from_pydict({"id": ["e1", "e2", "s1", "s2"], "text": ["", "  ", "two words", "Two words!"]})
    op = DedupMinhash()
    decisions = op.decide(op.keys(batch, OpContext()), OpContext())
    assert decisions.column("id").to_pylist() == ["s2"]  # empty texts are never duplicates


def test_bad_parameters_are_named():
    with pytest.raises(RecipeError, match="bands and dedup_minhash.rows must be given together"):
        DedupMinhash(bands=4)
    with pytest.raises(RecipeError, match=r"bands x rows \(20 x 10\) must not exceed dedup_minhash.num_perm \(128\)"):
        DedupMinhash(bands=20, rows=10)
    with pytest.raises(RecipeError, match=r"dedup_minhash.threshold must be a float in \(0, 1\], got 0"):
        DedupMinhash(threshold=0)
    with pytest.raises(RecipeError, match="dedup_minhash.verify must be one of 'signature', 'exact', 'none'"):
        DedupMinhash(verify="jaccard")
    with pytest.raises(RecipeError, match="dedup_minhash.hash_bits must be one of 32, 64"):
        DedupMinhash(hash_bits=16)
    with pytest.raises(RecipeError, match=r"dedup_minhash.memory_mb must be an int in \[16, inf\) or null, got 1"):
        DedupMinhash(memory_mb=1)


def test_signatures_do_not_depend_on_the_batch():
    texts = [PROSE[0], PROSE[1], PROSE[2]]
    together = signatures(pa.array(texts), 5, 64, 7)
    alone = np.vstack([signatures(pa.array([t]), 5, 64, 7) for t in texts])
    assert (together == alone).all()


def test_signatures_64_bit_and_char_shingles():
    text = PROSE[0] + " " + PROSE[1]
    typo = text.replace("practical", "practicla").replace("the ", "teh ", 1)
    for unit, bits in (("word", 64), ("char", 32), ("char", 64)):
        sigs = signatures(pa.array([text, typo, text.upper(), "", PROSE[2]]), 5, 256, 0, unit, bits)
        assert sigs.dtype == (np.uint32 if bits == 32 else np.uint64)
        assert (sigs[0] == sigs[2]).all() and (sigs[3] == np.iinfo(sigs.dtype).max).all()
        similar, other = (sigs[0] == sigs[1]).mean(), (sigs[0] == sigs[4]).mean()
        true = _jaccard(text, typo) if unit == "word" else _char_jaccard(text, typo)
        assert other < 0.1 and abs(similar - true) < 0.08, (unit, bits, similar, true)


def _char_jaccard(a: str, b: str, n: int = 5) -> float:
    def shingles(text):
        chars = " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
        return {chars[i:i + n] for i in range(len(chars) - n + 1)}
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_shingle_sets_are_the_distinct_shingles():
    values, starts = shingle_sets(pa.array(["a b c a b c a b", "", "x y"]), 2)
    assert starts.tolist() == [0, 3, 3, 4]  # {ab, bc, ca}, nothing, {xy}
    assert len(set(values[:3].tolist())) == 3


def test_verify_exact_uses_true_jaccard():
    text = PROSE[0] + " " + PROSE[1]
    near = _edit(text, 12)  # true Jaccard about 0.6 of word 5-grams
    j = _jaccard(text, near)
    assert 0.4 < j < 0.75
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": [text, near]})
    ctx = OpContext()
    for threshold, removed in ((j - 0.02, 1), (j + 0.02, 0)):
        op = DedupMinhash(threshold=threshold, bands=64, rows=2, verify="exact")
        assert op.decide(op.keys(batch, ctx), ctx).num_rows == removed


def _planted_corpus(n_copies: int) -> pa.RecordBatch:
    """The bundled sample plus edited copies of its first long documents."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        rows = [{"id": r["id"], "text": r["text"]} for r in map(json.loads, src)]
    long = [r for r in rows if len(r["text"].split()) >= 30][:n_copies]
    rows += [{"id": f"zz-{i:05d}", "text": _edit(r["text"], 15 + i % 20)} for i, r in enumerate(long)]
    return pa.RecordBatch.from_pylist(rows)


@pytest.mark.parametrize("linkage", ["component", "verified"])
def test_spilling_under_a_tiny_budget_gives_the_in_memory_result(tmp_path, linkage):
    batch = _planted_corpus(6000)
    op, tiny = DedupMinhash(num_perm=256, linkage=linkage), DedupMinhash(num_perm=256, memory_mb=16, linkage=linkage)
    assert not op._partitions(batch.num_rows)[1]
    assert tiny._partitions(batch.num_rows)[0] > 1 and tiny._partitions(batch.num_rows)[1]
    parts = [op.keys(batch.slice(lo, 2500), OpContext()) for lo in range(0, batch.num_rows, 2500)]
    files = []
    for k, table in enumerate(parts):  # keys as the executor stores them: one file per shard
        files.append(tmp_path / f"k{k}.parquet")
        pq.write_table(table, files[-1])
    seen = []
    real_read = KeyParts.iter

    def spy(self, columns=None):
        seen.append(sorted(p.name for p in tmp_path.glob("spill-*/**/*.bin")))
        return real_read(self, columns)

    KeyParts.iter = spy
    try:
        spilled = tiny.decide(KeyParts(files), OpContext(work_dir=tmp_path, step="mh"))
    finally:
        KeyParts.iter = real_read
    in_memory = op.decide(pa.concat_tables(parts), OpContext())
    assert spilled.num_rows > 1000
    assert spilled.sort_by("id").equals(in_memory.sort_by("id"))
    assert any(names for names in seen)  # signatures and bucket partitions went to disk
    assert not list(tmp_path.glob("spill-*"))  # and were cleaned up


@pytest.mark.parametrize("verify, part_per_task, linkage", [("signature", True, "component"),
                                                           ("exact", False, "component"),
                                                           ("signature", False, "verified"),
                                                           ("exact", True, "verified")])
def test_tasks_for_a_cluster_give_the_in_memory_result(tmp_path, monkeypatch, verify, part_per_task, linkage):
    """The distributed path (shuffle, link and merge tasks through ``OpContext.map``) decides
    exactly what the in-memory path decides, whether the key parts are scattered together or
    one by one."""
    from thresher.ops.dedup import lsh_tasks

    if part_per_task:
        monkeypatch.setattr(lsh_tasks, "SCATTER_ENTRIES", 700 * 18)  # one part (700 records x 18 bands) a task
    batch = _planted_corpus(1500)
    op = DedupMinhash(verify=verify, linkage=linkage)
    parts = [op.keys(batch.slice(lo, 700), OpContext()) for lo in range(0, batch.num_rows, 700)]
    files = []
    for k, table in enumerate(parts):
        files.append(tmp_path / f"k{k}.parquet")
        pq.write_table(table, files[-1])
    calls: list[tuple[str, int]] = []

    def mapper(fn, items):  # what an executor's workers would do, here, counted
        calls.append((fn.__name__, len(items)))
        return [fn(item) for item in items]

    ctx = OpContext(work_dir=tmp_path, step="mh", workers=4, mapper=mapper, distributed=True)
    sharded = op.decide(KeyParts(files), ctx)
    in_memory = op.decide(pa.concat_tables(parts), OpContext())
    assert sharded.num_rows > 500
    assert sharded.sort_by("id").equals(in_memory.sort_by("id"))
    if linkage == "verified":
        _check_verified(op, batch, sharded)
    scattered = [("scatter_task", len(files))] if part_per_task else []  # one task: run here
    assert calls == scattered + [("link_task", 8)]  # 8 forests: one merge, run here
    assert ctx.info["scatter_tasks"] == (len(files) if part_per_task else 1)
    assert ctx.info["bucket_entries"] > len(files) * 18 * 600
    assert ctx.info["verified_links"] <= ctx.info["candidate_links"] and ctx.info["merge_rounds"] == 1
    assert not (tmp_path / "lsh").exists()


def test_large_string_texts_mixing_ascii_and_unicode_are_normalized_alike():
    from thresher.ops.dedup.lsh import normalize_for_shingles

    texts = ["Plain ASCII, text!", "Ünïcode — TEXT", None, "more ascii"]
    small = normalize_for_shingles(pa.array(texts, pa.string()))
    large = normalize_for_shingles(pa.array(texts, pa.large_string()))
    assert large.type == pa.large_string() and large.cast(pa.string()).equals(small)
    assert small.to_pylist() == ["plain ascii  text ", "ünïcode   text", "", "more ascii"]


def test_the_card_counts_records_removed_through_a_chain(tmp_path):
    rows = _chain().to_pylist()
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    run(Recipe.from_dict(make_recipe(tmp_path, path, [{"dedup_minhash": {}}])))
    card = (tmp_path / "out" / "README.md").read_text()
    assert "whose estimated Jaccard similarity to the kept record (`score`) is below" in card
    assert "removed_below_threshold" in (tmp_path / "out" / "report.html").read_text()
    verified = make_recipe(tmp_path / "v", path, [{"dedup_minhash": {"linkage": "verified"}}])
    run(Recipe.from_dict(verified))
    assert "below its threshold" not in (tmp_path / "v" / "out" / "README.md").read_text()
