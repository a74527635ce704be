"""Small samples of kept and removed records for the report and ``thresher inspect``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ..io.output import output_columns, output_parts, read_output_file
from ..manifest import removed_counts

__all__ = ["removed_samples", "kept_samples", "duplicate_clusters"]


def removed_samples(out: Path, per_rule: int = 5, max_chars: int = 600,
                    manifest: dict | None = None) -> dict[tuple[str, str], list[dict]]:
    """Up to ``per_rule`` removed records (every column) for each (step, rule), texts cut to ``max_chars``.

    With the run's ``manifest``, the files of a stage (named ``part-<stage>-<n>``) are read only
    until each of the stage's rules has its samples, so a report over millions of removed
    records stays fast.
    """
    wanted = _wanted_per_stage(manifest, per_rule) if manifest else {}
    found: dict[tuple[str, str], list[dict]] = {}
    for path in output_parts(out, "removed"):
        need = wanted.get(_stage_of(path))
        if need is not None and all(len(found.get(key, ())) >= n for key, n in need.items()):
            continue
        why = read_output_file(path, ["removed_by", "reason"])
        rows, counts = [], {key: len(v) for key, v in found.items()}
        for i, (step, text) in enumerate(zip(why.column("removed_by").to_pylist(), why.column("reason").to_pylist())):
            key = (step, text.split(": ", 1)[0])
            if counts.get(key, 0) < per_rule:
                counts[key] = counts.get(key, 0) + 1
                rows.append(i)
        if not rows:
            continue
        for row in read_output_file(path).take(pa.array(rows)).to_pylist():  # every column of the few chosen
            row["text"] = _cut(row.get("text") or "", max_chars)
            found.setdefault((row["removed_by"], row["reason"].split(": ", 1)[0]), []).append(row)
    return found


def _stage_of(path: Path) -> int | None:
    parts = path.name.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _wanted_per_stage(manifest: dict, per_rule: int) -> dict[int, dict[tuple[str, str], int]]:
    """For each stage index, the samples to find: ``{(step, rule): n}``."""
    counts = removed_counts(manifest)
    wanted: dict[int, dict] = {}
    for stage in manifest["stages"]:
        steps = {"input"} if stage["stage"] in ("ingest", "input") else set(stage["stage"].split("+"))
        wanted[stage["index"]] = {k: min(per_rule, n) for k, n in counts.items() if k[0] in steps}
    return wanted


def kept_samples(out: Path, n: int = 20, max_chars: int = 600) -> list[dict]:
    """The first ``n`` kept records (every column), texts cut to ``max_chars``."""
    rows: list[dict] = []
    for path in output_parts(out, "kept"):
        for batch in read_output_file(path).slice(0, n - len(rows)).to_batches(max_chunksize=n):
            rows.extend({**r, "text": _cut(r["text"] or "", max_chars)} for r in batch.to_pylist())
            if len(rows) >= n:
                return rows[:n]
    return rows


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def duplicate_clusters(out: Path, per_step: int = 6, members: int = 3, max_chars: int = 400,
                       files_per_step: int = 4) -> dict[str, list[dict]]:
    """The largest duplicate clusters each dedup step removed, from its first few removed files:
    ``{step: [{"rep": {"id", "text"}, "size": n, "members": [{"id", "text", "score"}]}]}``.

    The size is the step's ``cluster_size`` column where it has one, else the number of
    removed copies seen plus the kept one. The kept representative's text is looked up in
    the output (kept, or removed by a later step)."""
    import pyarrow.compute as pc

    clusters: dict[str, dict[str, dict]] = {}  # step -> kept id -> cluster
    files_seen: dict[str, int] = {}
    read: list[Path] = []
    for path in _first_of_each_stage(output_parts(out, "removed"), files_per_step):
        columns = output_columns(path)
        if "dup_of" not in columns:
            continue
        names = [n for n in ("id", "removed_by", "dup_of", "score", "cluster_size") if n in columns]  # texts: below
        table = read_output_file(path, names)
        table = table.filter(pc.is_valid(table.column("dup_of")))
        read.append(path)
        for step in pc.unique(table.column("removed_by")).to_pylist():
            if files_seen.get(step, 0) >= files_per_step:
                continue
            files_seen[step] = files_seen.get(step, 0) + 1
            for row in table.filter(pc.equal(table.column("removed_by"), step)).to_pylist():
                cluster = clusters.setdefault(step, {}).setdefault(row["dup_of"], {"size": 1, "members": []})
                cluster["size"] = row.get("cluster_size") or cluster["size"] + 1
                if len(cluster["members"]) < members:
                    cluster["members"].append({"id": row["id"], "text": None, "score": row.get("score")})
    found = {step: [{"rep": {"id": rep, "text": None}, **c}
                    for rep, c in sorted(by_rep.items(), key=lambda kv: (-kv[1]["size"], kv[0]))[:per_step]]
             for step, by_rep in clusters.items()}
    shown = [record for cs in found.values() for c in cs for record in (c["rep"], *c["members"])]
    texts = _texts_of(out, {record["id"] for record in shown}, first=read)  # where the members are, first
    for record in shown:
        record["text"] = _cut(texts.get(record["id"]) or "", max_chars)
    return found


def _first_of_each_stage(paths: list[Path], n: int) -> list[Path]:
    """The first ``n`` removed files of each stage (their names are ``part-<stage>-<k>``)."""
    taken: dict[str, int] = {}
    out = []
    for path in paths:
        stage = path.name.split("-")[1]
        if taken.get(stage, 0) < n:
            taken[stage] = taken.get(stage, 0) + 1
            out.append(path)
    return out


def _texts_of(out: Path, ids: set[str], first: list[Path] = ()) -> dict[str, str]:
    """The texts of ``ids`` wherever they are in the output, looking in ``first`` first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted, texts = pa.array(sorted(ids), pa.string()), {}
    paths = list(first) + [p for folder in ("kept", "removed") for p in output_parts(out, folder) if p not in first]
    for path in paths:
        if len(texts) == len(ids):
            return texts
        found = pc.is_in(read_output_file(path, ["id"]).column("id"), value_set=wanted)
        if pc.any(found).as_py():  # the texts of a file only where it has one of the ids
            hits = read_output_file(path, ["id", "text"]).filter(found)
            texts.update(zip(hits.column("id").to_pylist(), hits.column("text").to_pylist()))
    return texts
