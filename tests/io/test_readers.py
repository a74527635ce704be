"""Every input format reads to the same records; every kind of bad input gets a clear error."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from conftest import read_output, write_jsonl
from thresher import InputError, Recipe, run

ROWS = [{"id": f"r{i}", "text": f"Record number {i} of a real test.", "meta": {"k": i}, "tag": "x"} for i in range(25)]


def _run(tmp_path: Path, path, **input_opts):
    recipe = Recipe(input={"path": str(path), **input_opts}, output=str(tmp_path / "out"),
                    executor={"workers": 1, "shard_rows": 10})
    return run(recipe)


def _kept_ids(tmp_path):
    return read_output(tmp_path / "out", "kept").column("id").to_pylist()


@pytest.mark.parametrize("compress", [None, "gz", "zst"])
def test_jsonl_plain_gz_zst(tmp_path, compress):
    suffix = {None: "", "gz": ".gz", "zst": ".zst"}[compress]
    path = write_jsonl(tmp_path / f"d.jsonl{suffix}", ROWS, compress=compress)
    result = _run(tmp_path, path)
    assert result.counts == {"input": 25, "kept": 25, "removed": 0}
    kept = read_output(tmp_path / "out", "kept")
    assert sorted(kept.column("id").to_pylist()) == sorted(r["id"] for r in ROWS)
    assert kept.column("meta").to_pylist()[0] == {"k": 0}  # nested metadata carried through


def test_parquet_csv_arrow_and_hf_dataset_dir(tmp_path):
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "meta"} for r in ROWS])
    pq.write_table(table, tmp_path / "d.parquet")
    pcsv.write_csv(table, tmp_path / "d.csv")
    hf = tmp_path / "hf"
    hf.mkdir()
    with pa.ipc.new_stream(hf / "data-00000-of-00001.arrow", table.schema) as writer:
        writer.write_table(table)
    (hf / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (hf / "dataset_info.json").write_text("{}")
    for name in ("d.parquet", "d.csv", "hf"):
        out = tmp_path / f"out_{name.replace('.', '_')}"
        recipe = Recipe(input=str(tmp_path / name), output=str(out), executor={"workers": 1})
        assert run(recipe).counts["kept"] == 25, name
        assert sorted(read_output(out, "kept").column("id").to_pylist()) == sorted(r["id"] for r in ROWS)


def test_directory_and_glob_and_derived_ids(tmp_path):
    rows = [{"text": f"Line {i}."} for i in range(3)]
    write_jsonl(tmp_path / "data" / "a.jsonl", rows)
    write_jsonl(tmp_path / "data" / "sub" / "b.jsonl", rows)
    _run(tmp_path, tmp_path / "data")
    assert sorted(_kept_ids(tmp_path)) == ["a.jsonl:1", "a.jsonl:2", "a.jsonl:3",
                                           "sub/b.jsonl:1", "sub/b.jsonl:2", "sub/b.jsonl:3"]
    recipe = Recipe(input=str(tmp_path / "data" / "**" / "*.jsonl"), output=str(tmp_path / "o2"),
                    executor={"workers": 1})
    assert run(recipe).counts["input"] == 6


def test_text_and_id_field_mapping(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"key": i, "content": f"Hello {i}"} for i in range(4)])
    _run(tmp_path, path, text_field="content", id_field="key")
    kept = read_output(tmp_path / "out", "kept")
    assert kept.column("id").to_pylist() == ["0", "1", "2", "3"]
    assert kept.column("text").to_pylist()[0] == "Hello 0"


BAD_CASES = {
    "malformed": (b'{"text": "ok"}\n{"text": "broken\n', r"d\.jsonl:2: malformed JSON"),
    "missing_text": (b'{"text": "ok"}\n{"body": "x"}\n',
                     r"d\.jsonl:2: text field 'text' is missing; is `text_field` correct\? Available keys: \[body\]"),
    "wrong_type": (b'{"text": "ok"}\n{"text": 42}\n', r"d\.jsonl:2: text field 'text' must be a string, got int"),
    "invalid_utf8": (b'{"text": "ok"}\n{"text": "caf\xe9"}\n', r"d\.jsonl:2: invalid UTF-8"),
    "not_object": (b'{"text": "ok"}\n[1, 2]\n', r"d\.jsonl:2: expected a JSON object, got list"),
    "column_type": (b'{"text": "a", "n": 1}\n{"text": "b", "n": "one"}\n',
                    r"d\.jsonl:2: column 'n' is a string here but a number at line 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_record_raises_with_file_and_line(tmp_path, case):
    data, message = BAD_CASES[case]
    (tmp_path / "d.jsonl").write_bytes(data)
    with pytest.raises(InputError, match=message):
        _run(tmp_path, tmp_path / "d.jsonl")


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_record_is_quarantined_not_lost(tmp_path, case):
    data, _ = BAD_CASES[case]
    (tmp_path / "d.jsonl").write_bytes(data)
    result = _run(tmp_path, tmp_path / "d.jsonl", on_error="quarantine")
    assert result.counts == {"input": 2, "kept": 1, "removed": 1}
    removed = read_output(tmp_path / "out", "removed")
    assert removed.column("removed_by").to_pylist() == ["input"]
    assert removed.column("reason")[0].as_py().startswith("invalid input: ")
    assert removed.column("id").to_pylist() == ["d.jsonl:2"]


def test_duplicate_ids_raise_naming_both_places_or_quarantine(tmp_path):
    rows = [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}, {"id": "a", "text": "three"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(InputError, match=r"d\.jsonl:3: duplicate id 'a', first seen at d\.jsonl:1"):
        _run(tmp_path, path)
    result = run(Recipe(input={"path": str(path), "on_error": "quarantine"}, output=str(tmp_path / "q"),
                        executor={"workers": 1}))
    assert result.counts == {"input": 3, "kept": 2, "removed": 1}
    removed = read_output(tmp_path / "q", "removed")
    assert removed.column("th_source").to_pylist() == ["d.jsonl:3"]
    assert read_output(tmp_path / "q", "kept").column("text").to_pylist() == ["one", "two"]


def test_empty_file_wrong_type_and_missing_path(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jsonl: the file is empty"):
        _run(tmp_path, tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_bytes(b"\n\n")
    with pytest.raises(InputError, match=r"blank\.jsonl: the file holds no records"):
        _run(tmp_path, tmp_path / "blank.jsonl")
    (tmp_path / "pic.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match=r"pic\.png: cannot read this file type; expected one of"):
        _run(tmp_path, tmp_path / "pic.png")
    with pytest.raises(InputError, match="matches no file"):
        _run(tmp_path, tmp_path / "nothing-*.jsonl")
    (tmp_path / "fake.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        _run(tmp_path, tmp_path / "fake.parquet")


def test_type_clash_across_files_names_both_files(tmp_path):
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"text": "x", "n": 1}])
    write_jsonl(tmp_path / "d" / "b.jsonl", [{"text": "y", "n": "one"}])
    with pytest.raises(InputError, match=r"column 'n' is int64 in a\.jsonl but string in b\.jsonl"):
        _run(tmp_path, tmp_path / "d")


def test_null_columns_and_int_float_unify_across_shards(tmp_path):
    rows = [{"text": f"t{i}", "x": None if i < 10 else "s", "y": 1 if i < 10 else 1.5} for i in range(20)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    _run(tmp_path, path)
    kept = read_output(tmp_path / "out", "kept")
    assert kept.schema.field("x").type == pa.string()
    assert kept.schema.field("y").type == pa.float64()


def test_large_jsonl_read_in_byte_ranges_gives_the_same_records(tmp_path, monkeypatch):
    from conftest import output_digest
    from thresher.exec import local
    from thresher.io.readers import ReadOptions, jsonl_spans, read_batches

    rows = [{"id": f"r{i}", "text": f"record number {i} " * (i % 7 + 1)} for i in range(300)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    with open(path, "a", encoding="utf-8") as f:  # a blank line and bad lines inside ranges
        f.write("\n{not json\n" + json.dumps({"id": "late", "text": "the last one"}) + "\n[1, 2]\n")
    spans = jsonl_spans(path, range_bytes=1000)
    assert len(spans) > 5 and spans[0].start == 0 and spans[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    opts = ReadOptions(on_error="quarantine", batch_rows=50)
    whole = [(b.to_pylist() if b is not None else [], [(x.source, x.reason) for x in bad])
             for b, bad in read_batches(path, "big.jsonl", opts)]
    ranged = [(b.to_pylist() if b is not None else [], [(x.source, x.reason) for x in bad])
              for s in spans for b, bad in read_batches(path, "big.jsonl", opts, s)]
    assert [r for rs, _ in whole for r in rs] == [r for rs, _ in ranged for r in rs]  # same rows, th_source lines
    assert [x for _, bad in whole for x in bad] == [x for _, bad in ranged for x in bad]
    assert ("big.jsonl:302", ) == tuple(x[0] for _, bad in ranged for x in bad)[:1]

    _run(tmp_path, path, on_error="quarantine")
    expected = output_digest(tmp_path / "out")
    monkeypatch.setattr(local, "jsonl_spans", lambda p: jsonl_spans(p, range_bytes=1000))
    recipe = Recipe(input={"path": str(path), "on_error": "quarantine"}, output=str(tmp_path / "out"),
                    executor={"workers": 1, "shard_rows": 10})
    run(recipe, fresh=True)
    shards = list((tmp_path / "out" / "_work").glob("00-ingest-*/kept/f00000.0006-*"))
    assert shards  # really read in ranges
    assert output_digest(tmp_path / "out") == expected


@pytest.mark.parametrize("line, message", [
    (b'{"id": true, "text": "x"}', "id field 'id' must be a string or an integer, got bool"),
    (b'{"id": null, "text": "x"}', "id field 'id' is missing or null"),
    (b'{"id": 3, "text": null}', "text field 'text' is null"),
    (b'{"id": 3.5, "text": "x"}', "id field 'id' must be a string or an integer, got float"),
])
def test_id_field_checks_name_the_line_after_blank_lines(tmp_path, line, message):
    """Well-formed lines take a fast path; everything else is checked and explained, with the
    line number counting blank lines."""
    (tmp_path / "d.jsonl").write_bytes(b'{"id": "a", "text": "ok"}\n\n' + line + b"\n")
    with pytest.raises(InputError, match=rf"d\.jsonl:3: {message}"):
        _run(tmp_path, tmp_path / "d.jsonl", id_field="id")
    result = _run(tmp_path, tmp_path / "d.jsonl", id_field="id", on_error="quarantine")
    assert result.counts == {"input": 2, "kept": 1, "removed": 1}
    assert _kept_ids(tmp_path) == ["a"]


_JSONL_CASES = {
    "plain": b'{"id": "a", "text": "one", "n": 1}\n{"id": "b", "text": "two", "n": 2}\n',
    "int ids, no final newline": b'{"id": 7, "text": "x"}\n{"id": 8, "text": "y"}\n',
    "crlf": b'{"id": "a", "text": "x"}\r\n{"id": "b", "text": "y"}\r\n',
    "int and float": b'{"id": "a", "text": "x", "v": 1}\n{"id": "b", "text": "y", "v": 2.5}\n',
    "late and null columns": b'{"id": "a", "text": "x", "z": null}\n{"id": "b", "text": "y", "w": true, "z": null}\n',
    "dates stay strings": b'{"id": "a", "text": "x", "t": "2020-01-01T10:00:00"}\n'
                          b'{"id": "b", "text": "y", "t": "2021-02-03"}\n',
    "nested": b'{"id": "a", "text": "x", "m": {"k": [1, 2]}}\n{"id": "b", "text": "y", "m": {"k": []}}\n',
    "big ints": b'{"id": "a", "text": "x", "v": 9007199254740993}\n{"id": "b", "text": "y", "v": 0.5}\n',
    "blank line": b'{"id": "a", "text": "x"}\n\n{"id": "b", "text": "y"}\n',
    "no id field": b'{"text": "x", "k": "v"}\n{"text": "y", "k": "w"}\n',
    "some ids missing": b'{"id": "a", "text": "x"}\n{"text": "y"}\n',
    "bad lines": b'{"id": "a", "text": "x"}\n{not json\n[1, 2]\n{"id": true, "text": "x"}\n{"id": "c", "text": 3}\n',
    "mixed types": b'{"id": "a", "text": "x", "v": 1}\n{"id": "b", "text": "y", "v": "one"}\n',
    "duplicate key": b'{"id": "a", "text": "x", "text": "y"}\n',
    "reserved column": b'{"id": "a", "text": "x", "reason": "r"}\n',
    "unicode": '{"id": "ü", "text": "naïve\\u00e9 \\ud83d\\ude00 x"}\n'.encode(),
    "invalid utf-8": b'{"id": "a", "text": "x\xff"}\n{"id": "b", "text": "y"}\n',
}


def _read_all(path, opts):
    from thresher.io.readers import jsonl_spans, read_batches

    try:
        spans = jsonl_spans(path, range_bytes=60) or [None]
        return [(b.schema.to_string() if b is not None else None, b.to_pylist() if b is not None else [],
                 [(x.id, x.source, x.reason, x.text) for x in bad])
                for span in spans for b, bad in read_batches(path, "d.jsonl", opts, span)]
    except InputError as exc:
        return str(exc)


@pytest.mark.parametrize("case", sorted(_JSONL_CASES))
def test_arrow_jsonl_fast_path_reads_exactly_as_the_line_by_line_path(tmp_path, monkeypatch, case):
    """JSONL runs of lines go through Arrow's JSON reader where it gives the same batches as
    the checked line-by-line path; the rest (and every error) through that path."""
    from thresher.io import readers

    path = tmp_path / "d.jsonl"
    content = _JSONL_CASES[case] * 3
    path.write_bytes(content.rstrip(b"\n") if "no final newline" in case else content)
    used = []
    arrow_batch = readers._arrow_batch
    monkeypatch.setattr(readers, "_arrow_batch", lambda *a: used.append(arrow_batch(*a)) or used[-1])
    for id_field in ("id", None):
        for on_error in ("raise", "quarantine"):
            for batch_rows in (2, 10_000):
                opts = readers.ReadOptions(id_field=id_field, on_error=on_error, batch_rows=batch_rows)
                fast = _read_all(path, opts)
                with monkeypatch.context() as m:
                    m.setattr(readers, "_arrow_jsonl", lambda *a: iter(()))
                    slow = _read_all(path, opts)
                assert fast == slow, (id_field, on_error, batch_rows)
    if case in ("plain", "int ids, no final newline", "crlf", "int and float", "late and null columns",
                "dates stay strings", "no id field", "unicode"):
        assert any(b is not None for b in used)  # the fast path really read these


def test_without_id_field_ids_are_strings_and_missing_ones_are_line_numbers(tmp_path):
    """The input's own ``id`` becomes the id (as a string), not also a metadata column that
    would replace it (integers and nulls where a record had none)."""
    from thresher.io.readers import ReadOptions, read_batches

    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 5, "text": "a"}\n{"text": "b"}\n{"id": "x", "text": "c"}\n')
    (batch, bad), = read_batches(path, "d.jsonl", ReadOptions())
    assert batch.column("id").to_pylist() == ["5", "d.jsonl:2", "x"] and batch.schema.names.count("id") == 1
