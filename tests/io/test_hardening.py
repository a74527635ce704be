"""Hostile and unusual input through the command line: reserved columns, CSV typing, malformed
CSV rows, broken compressed files and UTF-16. Each is a clear message and exit 3 (or 2 for a
recipe), never a traceback, and nothing is read as something else."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PROSE, read_output, write_jsonl
from thresher.cli import main
from thresher.io.reserved import RESERVED_COLUMNS, is_reserved


def _recipe(tmp_path: Path, data: Path, steps=(), **input_opts) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"input": {"path": str(data), **input_opts},
                                    "output": {"path": str(tmp_path / "out")},
                                    "executor": {"workers": 1}, "steps": list(steps)}))
    return path


def _fails(capsys, argv, code: int, *texts: str) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in texts:
        assert text in err, err
    return err


def _rows(n: int = 6, **extra) -> list[dict]:
    return [{"id": f"r{i}", "text": PROSE[i % len(PROSE)], **{k: v(i) for k, v in extra.items()}} for i in range(n)]


# --- 1. reserved columns ------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["score", "dup_of", "cluster_size", "removed_by", "reason", "th_words"])
def test_a_reserved_input_column_is_refused_before_any_stage(tmp_path, capsys, column):
    data = write_jsonl(tmp_path / "d.jsonl", _rows(score=lambda i: "high") if column == "score" else
                       [{**r, column: i} for i, r in enumerate(_rows())])
    recipe = _recipe(tmp_path, data, [{"dedup_minhash": {"threshold": 0.5}}])
    rename = "user_" + column.removeprefix("th_")
    _fails(capsys, ["run", str(recipe)], 3, f"d.jsonl: input column '{column}' is a column thresher writes",
           f"rename it, e.g. to '{rename}'")
    assert not (tmp_path / "out").exists()  # refused when planned: no stage ran
    _fails(capsys, ["plan", str(recipe)], 3, f"input column '{column}'")


def test_a_reserved_column_later_in_the_file_or_in_a_csv_or_parquet_header_is_refused(tmp_path, capsys):
    rows = _rows(30)
    rows[25]["cluster_size"] = 3  # past the first record that planning looks at
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    _fails(capsys, ["run", str(_recipe(tmp_path, data))], 3, "d.jsonl: input column 'cluster_size'")
    (tmp_path / "d.csv").write_text("id,text,dup_of\na,hello there,b\n")
    _fails(capsys, ["run", str(_recipe(tmp_path, tmp_path / "d.csv"))], 3, "d.csv: input column 'dup_of'")
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "score": [0.5]}), tmp_path / "d.parquet")
    _fails(capsys, ["run", str(_recipe(tmp_path, tmp_path / "d.parquet"))], 3, "d.parquet: input column 'score'")


def test_an_input_id_column_beside_the_declared_id_field_is_refused(tmp_path, capsys):
    """It would replace the records' ids (before: silently)."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"key": f"k{i}", **r} for i, r in enumerate(_rows())])
    _fails(capsys, ["run", str(_recipe(tmp_path, data, id_field="key"))], 3,
           "d.jsonl: input column 'id' is where thresher puts the id of `id_field` ('key')", "user_id")


def test_every_column_an_op_writes_is_reserved():
    from thresher.ops.registry import all_ops

    written = {(name, column) for name, cls in all_ops().items() for column in cls.writes}
    assert written and all(is_reserved(column) for _, column in written), written


def test_every_output_column_that_is_not_the_inputs_is_reserved(tmp_path, capsys):
    """What any step writes on kept or removed records (``dup_of``, ``score``...) is in the one
    reserved set, so that no input column can clash with it; a user column that is not
    reserved (``similarity``, ``size``) passes through and the report never shows it as
    thresher's similarity."""
    rows = [{"id": f"r{i:02d}", "text": PROSE[i % 2] + (" extra words" if i % 3 else ""), "similarity": 0.4242,
             "size": "big"} for i in range(24)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    steps = [{"length": {"min_words": 3}}, {"dedup_exact": {}}, {"dedup_minhash": {"threshold": 0.5}}]
    assert main(["run", str(_recipe(tmp_path, data, steps))]) == 0
    out = tmp_path / "out"
    removed = read_output(out, "removed")
    assert removed.num_rows and {"dup_of", "score", "cluster_size"} <= set(removed.column_names)
    for name in ("kept", "removed"):
        extra = set(read_output(out, name).column_names) - {"id", "text", "similarity", "size"}
        assert extra and all(is_reserved(c) for c in extra), extra
    html = (out / "report.html").read_text()
    assert "similarity 0.42" not in html  # the user's column is not shown as a duplicate's similarity
    scores = [s for s in removed.column("score").to_pylist() if s is not None]
    assert scores and f"similarity {scores[0]:.2f}" in html
    assert set(RESERVED_COLUMNS) >= {"dup_of", "score", "cluster_size"}


# --- 2. CSV typing --------------------------------------------------------------------------------


def test_csv_values_and_ids_stay_exactly_as_written(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("id,text,code,na,empty\n007,first record,01234,NA,\n7,second record,1e3,x,y\n"
                   "0008,third record,5,NA,\n1e3,fourth record,007,,\n")
    assert main(["run", str(_recipe(tmp_path, csv, [{"dedup_exact": {}}]))]) == 0
    kept = read_output(tmp_path / "out", "kept")
    assert kept.column("id").to_pylist() == ["0008", "007", "1e3", "7"]  # "007" and "7" are two records
    assert kept.schema.field("code").type == pa.string()
    by_id = {r["id"]: r for r in kept.to_pylist()}
    assert by_id["007"]["code"] == "01234" and by_id["007"]["na"] == "NA" and by_id["007"]["empty"] == ""
    assert by_id["7"]["code"] == "1e3" and by_id["1e3"]["code"] == "007"
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "out"), "007"]) == 0
    assert "'007': kept" in capsys.readouterr().out


def test_declared_column_types_are_applied_and_a_bad_value_named(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    csv.write_text("id,text,year,weight_kg\na,first record,2020,1.5\nb,second record,20x,2\nc,third record,,3e1\n")
    recipe = _recipe(tmp_path, csv, columns={"year": "int64", "weight_kg": "float64"})
    _fails(capsys, ["run", str(recipe)], 3, "d.csv:3: column 'year': cannot read '20x' as int64",
           "on_error: quarantine")
    recipe = _recipe(tmp_path, csv, columns={"year": "int64", "weight_kg": "float64"}, on_error="quarantine")
    assert main(["run", str(recipe)]) == 0
    kept = read_output(tmp_path / "out", "kept")
    assert kept.schema.field("year").type == pa.int64() and kept.schema.field("weight_kg").type == pa.float64()
    assert kept.to_pylist()[0]["year"] == 2020 and kept.to_pylist()[1]["year"] is None  # an empty field: null
    assert kept.column("weight_kg").to_pylist() == [1.5, 30.0]
    removed = read_output(tmp_path / "out", "removed")
    assert removed.column("id").to_pylist() == ["d.csv:3"]
    assert removed.column("reason").to_pylist() == ["invalid input: column 'year': cannot read '20x' as int64"]


def test_declared_types_also_cast_jsonl_and_ids_from_integers_are_their_decimal_text(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": i * 7, "text": PROSE[i % 4], "n": i, "x": None}
                                              for i in range(4)])
    assert main(["run", str(_recipe(tmp_path, data, columns={"n": "string", "x": "float32"}))]) == 0
    kept = read_output(tmp_path / "out", "kept")
    assert sorted(kept.column("id").to_pylist()) == ["0", "14", "21", "7"]
    assert kept.schema.field("n").type == pa.string() and kept.schema.field("x").type == pa.float32()
    capsys.readouterr()
    assert main(["explain", str(tmp_path / "out"), "14"]) == 0
    assert "'14': kept" in capsys.readouterr().out


@pytest.mark.parametrize("columns, message", [
    ({"year": "integer"}, "input.columns.year must be an Arrow type name, one of string, bool, int8"),
    ({"id": "int64"}, "input.columns.id: the id is always read as a string"),
    ({"text": "string"}, "input.columns.text: the text is always read as a string"),
])
def test_a_bad_column_type_is_a_recipe_error(tmp_path, capsys, columns, message):
    data = write_jsonl(tmp_path / "d.jsonl", _rows())
    _fails(capsys, ["run", str(_recipe(tmp_path, data, columns=columns))], 2, message)


def test_a_declared_column_missing_from_a_csv_header_is_named(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("id,text,year\na,hello there,2020\n")
    _fails(capsys, ["run", str(_recipe(tmp_path, tmp_path / "d.csv", columns={"yaer": "int64"}))], 3,
           "d.csv: input.columns declares 'yaer', which the file does not have; its columns: id, text, year")


# --- malformed CSV rows ---------------------------------------------------------------------------

_CSV = ("id,text,n\na,first record,1\nb,second record\nc,third record,3\nd,fourth,4,extra\ne,fifth record,5\n"
        'f,"unclosed quote,6\n')


def test_a_malformed_csv_row_names_its_line(tmp_path, capsys):
    (tmp_path / "d.csv").write_text(_CSV)
    _fails(capsys, ["run", str(_recipe(tmp_path, tmp_path / "d.csv"))], 3,
           "d.csv:3: malformed CSV row: expected 3 fields, found 2: 'b,second record'", "on_error: quarantine")


def test_malformed_csv_rows_are_quarantined_and_the_rest_of_the_file_read(tmp_path):
    (tmp_path / "d.csv").write_text(_CSV)
    assert main(["run", str(_recipe(tmp_path, tmp_path / "d.csv", on_error="quarantine"))]) == 0
    kept = read_output(tmp_path / "out", "kept")
    assert kept.column("id").to_pylist() == ["a", "c", "e"]
    assert kept.column("th_source").to_pylist() == ["d.csv:2", "d.csv:4", "d.csv:6"]  # lines, after a skipped one
    removed = read_output(tmp_path / "out", "removed").to_pylist()
    assert [(r["id"], r["reason"]) for r in removed] == [
        ("d.csv:3", "invalid input: malformed CSV row: expected 3 fields, found 2"),
        ("d.csv:5", "invalid input: malformed CSV row: expected 3 fields, found 4"),
        ("d.csv:7", "invalid input: malformed CSV row: expected 3 fields, found 2")]
    assert removed[0]["text"] == "b,second record"


def test_derived_csv_ids_are_line_numbers_after_a_skipped_row(tmp_path):
    (tmp_path / "d.csv").write_text("text,n\nfirst record,1\nbad,row,x\nthird record,3\n")
    assert main(["run", str(_recipe(tmp_path, tmp_path / "d.csv", on_error="quarantine"))]) == 0
    assert read_output(tmp_path / "out", "kept").column("id").to_pylist() == ["d.csv:2", "d.csv:4"]


def test_quoted_csv_texts_spanning_lines_and_blocks_are_read_whole(tmp_path, monkeypatch):
    """Before, a text with newlines across Arrow's block boundary stopped the run ("CSV parser
    got out of sync with chunker")."""
    from thresher.io import csvfile

    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 512)
    texts = [f"paragraph {i}\n\n" + PROSE[i % 4].replace(". ", ".\n") for i in range(12)]
    body = "".join(f'r{i},"{t}"\n' for i, t in enumerate(texts))
    (tmp_path / "d.csv").write_text("id,text\n" + body)
    assert main(["run", str(_recipe(tmp_path, tmp_path / "d.csv"))]) == 0
    kept = read_output(tmp_path / "out", "kept")
    assert dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist())) == \
        {f"r{i}": t for i, t in enumerate(texts)}


def test_side_files_may_have_columns_the_run_input_may_not(tmp_path):
    """An eval set or target file with a ``score`` column is read (only text and label are
    used); the run's input with it is refused."""
    from thresher import InputError
    from thresher.io.readers import ReadOptions, read_batches

    path = write_jsonl(tmp_path / "t.jsonl", _rows(2, score=lambda i: 0.5))
    (batch, _), = read_batches(path, "t.jsonl", ReadOptions())
    assert batch.column("score").to_pylist() == [0.5, 0.5]
    with pytest.raises(InputError, match="t.jsonl: input column 'score'"):
        list(read_batches(path, "t.jsonl", ReadOptions(reserved=True)))


# --- 4. clear errors for broken files -----------------------------------------------------------------

_JSONL = b"".join(json.dumps({"id": f"r{i}", "text": f"record {i} " + PROSE[i % 4]}).encode() + b"\n"
                  for i in range(50))


def _truncated(data: bytes, kind: str) -> bytes:
    if kind == "gz":
        packed = gzip.compress(data, mtime=0)
    else:
        import zstandard

        packed = zstandard.ZstdCompressor().compress(data)
    return packed[:len(packed) * 2 // 3]


@pytest.mark.parametrize("name, content, message", [
    ("d.jsonl.gz", _truncated(_JSONL, "gz"), "d.jsonl.gz: the gzip file is truncated"),
    ("d.jsonl.zst", _truncated(_JSONL, "zst"), "d.jsonl.zst: the zstd file is truncated"),
    ("d.jsonl.gz", _JSONL, "d.jsonl.gz: not a gzip file although its name ends in .gz"),
    ("d.jsonl.zst", _JSONL, "d.jsonl.zst: not a zstd file although its name ends in .zst"),
    ("d.csv.gz", b"id,text\na,b\n", "d.csv.gz: not a gzip file although its name ends in .gz"),
    ("d.jsonl", _JSONL.decode().encode("utf-16"), "d.jsonl: the file is UTF-16 (or UTF-32), not UTF-8; convert it "
                                                  "to UTF-8, e.g. iconv -f UTF-16 -t UTF-8 d.jsonl > d.utf8.jsonl"),
    ("d.jsonl", _JSONL.decode().encode("utf-16-le"), "d.jsonl: the file is UTF-16 (or UTF-32)"),
    ("d.csv", "id,text\na,b\n".encode("utf-16"), "d.csv: the file is UTF-16 (or UTF-32)"),
])
@pytest.mark.parametrize("on_error", ["raise", "quarantine"])
def test_a_broken_input_file_is_a_clear_error_in_run_and_plan(tmp_path, capsys, name, content, message, on_error):
    (tmp_path / name).write_bytes(content)
    recipe = _recipe(tmp_path, tmp_path / name, on_error=on_error)
    _fails(capsys, ["plan", str(recipe)], 3, message)
    _fails(capsys, ["run", str(recipe)], 3, message)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_a_long_file_truncated_past_the_planned_head_is_named_when_read(tmp_path, capsys, suffix):
    """Planning reads a file's start; the reader finds a truncation further on (a truncated
    zstd file used to give fewer records without a word)."""
    data = _JSONL * 200  # ~1 MB: the truncation lies past what planning reads
    rows = [json.loads(line) for line in data.splitlines()]
    body = "".join(json.dumps({**r, "id": f"{r['id']}-{i}"}) + "\n" for i, r in enumerate(rows)).encode()
    path = tmp_path / f"d.jsonl{suffix}"
    path.write_bytes(_truncated(body, suffix[1:]))
    kind = "gzip" if suffix == ".gz" else "zstd"
    _fails(capsys, ["run", str(_recipe(tmp_path, path, on_error="quarantine"))], 3,
           f"d.jsonl{suffix}: the {kind} file is truncated")


def test_a_utf8_bom_is_not_part_of_the_first_record(tmp_path):
    """Also where the lines are read one by one (a bad line among them): before, the first
    record was quarantined as malformed JSON."""
    (tmp_path / "d.jsonl").write_bytes(b"\xef\xbb\xbf" + _JSONL + b"{broken\n")
    assert main(["run", str(_recipe(tmp_path, tmp_path / "d.jsonl", on_error="quarantine"))]) == 0
    assert read_output(tmp_path / "out", "kept").num_rows == 50
    assert read_output(tmp_path / "out", "removed").column("id").to_pylist() == ["d.jsonl:51"]
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbfid,text\na,hello\n")
    assert main(["run", str(_recipe(tmp_path, tmp_path / "d.csv"))]) == 0
    assert read_output(tmp_path / "out", "kept").column("id").to_pylist() == ["a"]
