#!/usr/bin/env python3
"""Heuristic filters, thresher vs datatrove: speed of the whole pipeline and agreement per filter and rule.

    bash bench/setup_peers.sh                              # once: bench/.venv-peers
    bench/.venv-peers/bin/python bench/heuristics.py       # speed + agreement, ~20 min on 2 cores

Input: ``bench/.data/docs100k.jsonl`` (``python bench/corpus.py docs --n 100000 --out
bench/.data/docs100k.jsonl``), split round-robin into 2 JSONL files under
``bench/out/heuristics/input/`` that both tools read (datatrove gives each task whole files).

Speed: the pipeline Gopher quality -> Gopher repetition -> C4 quality, default parameters, 2
workers, end to end from JSONL in to kept + removed records out, each tool in its own
subprocess (wall time and peak RSS of the process tree from ``bench/measure.py``, CPU seconds
of all its processes sampled alongside); thresher 3 runs per configuration, datatrove 2 (medians):

- thresher: ``thresher run RECIPE --no-progress --fresh`` with
  ``executor: {workers: 2, fuse_row_steps: true}`` and with ``fuse_row_steps: false``
  (Parquet out, zstd);
- datatrove: ``LocalPipelineExecutor([JsonlReader, GopherQualityFilter, GopherRepetitionFilter,
  C4QualityFilter, JsonlWriter], tasks=2, workers=2)``, each filter with an ``exclusion_writer``
  (rejected records with their filter reason, as thresher keeps them), JSONL.gz out (its default).

Agreement: each filter applied ALONE by both tools to every document (so that earlier filters
do not mask later ones), and each RULE of each filter alone (every other rule of the filter
turned off, using the tools' own code and parameters), in-process over 2 worker processes.
Disagreements are classified by cause; see bench/RESULTS-heuristics.md.

Outputs under ``bench/out/heuristics/`` (gitignored): ``tables.md`` (what is printed),
``summary.json``, ``agreement/thresher.parquet`` and ``agreement/datatrove.parquet`` (one row
per document, input order: each tool's verdicts per filter and per rule, and its measures),
``agreement/examples.md``, and the tools' run directories. ``--reuse`` reuses datatrove's
agreement table when input and versions match (thresher's is always recomputed).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from common import cli_run, loadavg, log  # noqa: E402
from measure import measured  # noqa: E402

DEFAULT_INPUT = REPO / "bench" / ".data" / "docs100k.jsonl"
DEFAULT_OUT = REPO / "bench" / "out" / "heuristics"

FILTERS = ("gopher_quality", "gopher_repetition", "c4_quality")
DT_FILTER_CLASS = {"gopher_quality": "GopherQualityFilter", "gopher_repetition": "GopherRepetitionFilter",
                   "c4_quality": "C4QualityFilter"}


# --------------------------------------------------------------------------------------- input

def split_input(src: Path, dest: Path, parts: int, limit: int | None) -> int:
    """Round-robin ``src`` lines into ``parts`` files ``dest/part-K.jsonl``; returns the records."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    outs = [open(dest / f"part-{k}.jsonl", "w", encoding="utf-8") for k in range(parts)]
    n = 0
    with open(src, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if limit is not None and n >= limit:
                break
            outs[n % parts].write(line if line.endswith("\n") else line + "\n")
            n += 1
    for o in outs:
        o.close()
    return n


def read_texts(input_dir: Path) -> tuple[list[str], list[str]]:
    """``(ids, texts)`` of the split input, in file order (part-0 then part-1 ...)."""
    ids, texts = [], []
    for path in sorted(input_dir.glob("part-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
    return ids, texts


# --------------------------------------------------------------------------------------- speed

THRESHER_RECIPE = """\
# written by bench/heuristics.py
input: {{path: {input}, text_field: text, id_field: id}}
output: {{path: {output}}}
executor: {{kind: local, workers: {workers}, fuse_row_steps: {fuse}}}
seed: 0
steps:
  - gopher_quality: {{}}
  - gopher_repetition: {{}}
  - c4_quality: {{}}
"""


def run_thresher(input_dir: Path, run_dir: Path, workers: int, fuse: bool) -> dict:
    from thresher.manifest import load_manifest

    run_dir.mkdir(parents=True, exist_ok=True)
    recipe = run_dir / "recipe.yaml"
    recipe.write_text(THRESHER_RECIPE.format(input=json.dumps(str(input_dir)), output=json.dumps(str(run_dir / "out")),
                                             workers=workers, fuse=str(fuse).lower()))
    cmd = cli_run(recipe, "--fresh")
    m = measured(cmd, run_dir / "log.txt", cpu=True)
    manifest = load_manifest(run_dir / "out")
    m["records_in"], m["kept"] = manifest["counts"]["input"], manifest["counts"]["kept"]
    m["steps"] = {s["step"]: {"in": s["in"], "out": s["out"], "seconds": s["seconds"]} for s in manifest["steps"]}
    return m


def _datatrove_pipeline(input_dir: str, out_dir: str, workers: int) -> None:
    """The datatrove run, in its own process (``heuristics.py _datatrove IN OUT WORKERS``)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    pipeline = [
        JsonlReader(input_dir, glob_pattern="*.jsonl"),
        GopherQualityFilter(exclusion_writer=JsonlWriter(f"{out_dir}/removed/gopher_quality")),
        GopherRepetitionFilter(exclusion_writer=JsonlWriter(f"{out_dir}/removed/gopher_repetition")),
        C4QualityFilter(exclusion_writer=JsonlWriter(f"{out_dir}/removed/c4_quality")),
        JsonlWriter(f"{out_dir}/kept"),
    ]
    LocalPipelineExecutor(pipeline=pipeline, tasks=workers, workers=workers, logging_dir=f"{out_dir}/logs").run()


def run_datatrove(input_dir: Path, run_dir: Path, workers: int) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)  # datatrove skips tasks it finds completed in its logging dir
    run_dir.mkdir(parents=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_datatrove", str(input_dir), str(run_dir / "out"),
           str(workers)]
    m = measured(cmd, run_dir / "log.txt", cpu=True)
    kept = _jsonl_records(run_dir / "out" / "kept")
    m["kept"] = len(kept)
    m["records_in"] = len(kept) + sum(len(_jsonl_records(run_dir / "out" / "removed" / f)) for f in FILTERS)
    m["steps"] = _datatrove_step_seconds(run_dir / "out" / "logs")
    m["cmd"] = "LocalPipelineExecutor([JsonlReader, GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter, " \
               f"JsonlWriter], tasks={workers}, workers={workers})"
    return m


def _jsonl_records(folder: Path) -> list[dict]:
    import gzip

    out = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f)
    return out


def _datatrove_step_seconds(logs: Path) -> dict:
    """Total seconds per pipeline step over all tasks, from datatrove's ``stats.json``."""
    path = logs / "stats.json"
    if not path.exists():
        return {}
    out = {}
    for step in json.loads(path.read_text()):
        name = step.get("name", "?")
        t = step.get("time_stats", {})
        seconds = t.get("total", t.get("global_mean", 0) * t.get("n", 0)) if isinstance(t, dict) else None
        out[name] = {"seconds": seconds,
                     "stats": {k: v for k, v in step.get("stats", {}).items() if isinstance(v, (int, float))}}
    return out


def speed(input_dir: Path, out: Path, workers: int, repeats: int, dt_repeats: int, n_records: int) -> dict:
    runs: dict[str, list[dict]] = collections.defaultdict(list)
    plan = [("datatrove", None)] + [(f"thresher{'' if not fuse else ' (fused)'}", fuse) for fuse in (True, False)]
    for name, fuse in plan:
        times = dt_repeats if fuse is None else repeats
        for k in range(times):
            load = loadavg()
            log(f"speed: {name} run {k + 1}/{times} (load average before: {load:.2f})")
            if fuse is None:
                m = run_datatrove(input_dir, out / "datatrove", workers)
            else:
                m = run_thresher(input_dir, out / ("thresher-fused" if fuse else "thresher"), workers, fuse)
            m["load_before"] = load
            log(f"  {m['seconds']:.1f} s ({m['cpu_seconds']:.1f} CPU s), {n_records / m['seconds']:.0f} docs/s, "
                f"kept {m['kept']}, "
                f"peak RSS {m['peak_rss_bytes'] / 2**20:.0f} MiB")
            runs[name].append(m)
    return dict(runs)


def pipeline_agreement(out: Path) -> dict:
    """Which step removed each record in each tool's speed run (thresher fused vs datatrove)."""
    import pyarrow.parquet as pq

    th_out = out / "thresher-fused" / "out"
    th_removed = pq.read_table(th_out / "removed", columns=["id", "removed_by"]).to_pydict()
    th_by = dict(zip(th_removed["id"], th_removed["removed_by"]))
    th_kept = pq.read_table(th_out / "kept", columns=["id", "text"]).to_pydict()
    th_text = dict(zip(th_kept["id"], th_kept["text"]))
    dt_by, dt_text = {}, {}
    for f in FILTERS:
        for rec in _jsonl_records(out / "datatrove" / "out" / "removed" / f):
            dt_by[rec["id"]] = f
    for rec in _jsonl_records(out / "datatrove" / "out" / "kept"):
        dt_text[rec["id"]] = rec["text"]
    ids = set(th_by) | set(th_text)
    assert ids == set(dt_by) | set(dt_text), "the two runs saw different records"
    cross = collections.Counter((th_by.get(i, "kept"), dt_by.get(i, "kept")) for i in ids)
    same_text = sum(th_text[i] == dt_text[i] for i in set(th_text) & set(dt_text))
    return {"cross": {f"{a}|{b}": c for (a, b), c in sorted(cross.items())},
            "kept_both": len(set(th_text) & set(dt_text)), "kept_both_same_text": same_text}


# ------------------------------------------------------------------------ agreement: definitions

#: Every rule of each filter: (name, thresher parameters that turn it on, datatrove parameters).
#: A "rule alone" run turns every other rule of the filter off (None / -1 / False).
GQ_RULES = [
    ("gopher word count", {"min_words": 50, "max_words": 100_000}, {"min_doc_words": 50, "max_doc_words": 100_000}),
    ("gopher mean word length", {"min_mean_word_length": 3, "max_mean_word_length": 10},
     {"min_avg_word_length": 3, "max_avg_word_length": 10}),
    ("gopher symbol ratio", {"max_symbol_word_ratio": 0.1}, {"max_symbol_word_ratio": 0.1}),
    ("gopher bullet lines", {"max_bullet_lines": 0.9}, {"max_bullet_lines_ratio": 0.9}),
    ("gopher ellipsis lines", {"max_ellipsis_lines": 0.3}, {"max_ellipsis_lines_ratio": 0.3}),
    ("gopher alphabetic words", {"min_alpha_words": 0.8}, {"max_non_alpha_words_ratio": 0.8}),
    ("gopher stop words", {"min_stop_words": 2}, {"min_stop_words": 2}),
]
TH_GQ_OFF = {k: None for _, p, _ in GQ_RULES for k in p}
DT_GQ_OFF = {k: None for _, _, p in GQ_RULES for k in p}

# gopher repetition: thresher parameter key, rule name, threshold, datatrove parameters
GR_RULES = [
    ("dup_line_frac", "gopher duplicate lines", 0.30, {"dup_line_frac": 0.3}),
    ("dup_para_frac", "gopher duplicate paragraphs", 0.30, {"dup_para_frac": 0.3}),
    ("dup_line_char_frac", "gopher duplicate line chars", 0.20, {"dup_line_char_frac": 0.2}),
    ("dup_para_char_frac", "gopher duplicate paragraph chars", 0.20, {"dup_para_char_frac": 0.2}),
    *((f"top_{n}gram_frac", f"gopher top {n}-gram", t, {"top_n_grams": ((n, t),)})
      for n, t in ((2, 0.20), (3, 0.18), (4, 0.16))),
    *((f"dup_{n}gram_frac", f"gopher duplicate {n}-grams", t, {"dup_n_grams": ((n, t),)})
      for n, t in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))),
]
DT_GR_OFF = {"dup_line_frac": None, "dup_para_frac": None, "dup_line_char_frac": None, "dup_para_char_frac": None,
             "top_n_grams": (), "dup_n_grams": ()}

# c4 page rules alone: thresher params, datatrove params (line rules always on, as in both tools)
C4_RULES = [
    ("c4 lorem ipsum", {"filter_curly_bracket": False, "min_sentences": None},
     {"filter_curly_bracket": False, "min_num_sentences": -1}),
    ("c4 curly bracket", {"filter_lorem_ipsum": False, "min_sentences": None},
     {"filter_lorem_ipsum": False, "min_num_sentences": -1}),
    ("c4 too few sentences", {"filter_lorem_ipsum": False, "filter_curly_bracket": False},
     {"filter_lorem_ipsum": False, "filter_curly_bracket": False}),
]
#: Counterfactual variants: each tool run with the other's C4 parameters.
C4_SWAPPED = {"th": {"min_words_per_line": 3, "min_sentences": 5},        # datatrove's (arXiv v1) numbers
              "dt": {"min_words_per_line": 5, "min_num_sentences": 3}}    # the published paper's numbers

DT_REASON_RULE = {
    "gopher_short_doc": "gopher word count", "gopher_long_doc": "gopher word count",
    "gopher_below_avg_threshold": "gopher mean word length", "gopher_above_avg_threshold": "gopher mean word length",
    "gopher_too_many_hashes": "gopher symbol ratio", "gopher_too_many_ellipsis": "gopher symbol ratio",
    "gopher_too_many_bullets": "gopher bullet lines", "gopher_too_many_end_ellipsis": "gopher ellipsis lines",
    "gopher_below_alpha_threshold": "gopher alphabetic words", "gopher_enough_stop_words": "gopher stop words",
    "dup_para_frac": "gopher duplicate paragraphs", "dup_para_char_frac": "gopher duplicate paragraph chars",
    "dup_line_frac": "gopher duplicate lines", "dup_line_char_frac": "gopher duplicate line chars",
    **{f"top_{n}_gram": f"gopher top {n}-gram" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher duplicate {n}-grams" for n in range(5, 11)},
    "empty": "(empty text)",
    "lorem_ipsum": "c4 lorem ipsum", "curly_bracket": "c4 curly bracket", "too_few_sentences": "c4 too few sentences",
}


def th_rule(reason: str | None) -> str | None:
    return None if reason is None else reason.split(": ", 1)[0]


def dt_rule(reason: str | None) -> str | None:
    return None if reason is None else DT_REASON_RULE.get(reason, reason)


# ------------------------------------------------------------------- agreement: worker processes

_TEXTS: list[str] = []
_W: dict = {}


def _th_init() -> None:
    from thresher.ops.text.c4 import C4Quality
    from thresher.ops.text.gopher import GopherQuality, GopherRepetition

    _W["gq"] = GopherQuality()
    _W["gq_rules"] = [(name, GopherQuality(**{**TH_GQ_OFF, **p})) for name, p, _ in GQ_RULES]
    _W["gr"] = GopherRepetition()
    off = {key: None for key, *_ in GR_RULES}
    _W["gr_rules"] = [(key, name, GopherRepetition(**{**off, key: limit})) for key, name, limit, _ in GR_RULES]
    _W["c4"] = C4Quality()
    _W["c4_rules"] = [(name, C4Quality(**p)) for name, p, _ in C4_RULES]
    _W["c4_swapped"] = C4Quality(**C4_SWAPPED["th"])


#: thresher's gopher_quality columns -> the names used here
TH_GQ_COLUMNS = {"th_gopher_words": "words", "th_gopher_mean_word_len": "mean_len", "th_gopher_hash_ratio": "hash",
                 "th_gopher_ellipsis_ratio": "ellipsis", "th_gopher_bullet_lines": "bullets",
                 "th_gopher_ellipsis_lines": "ellipsis_lines", "th_gopher_alpha_words": "alpha",
                 "th_gopher_stop_words": "stops"}


def _th_chunk(bounds: tuple[int, int]) -> list[dict]:
    """thresher's verdicts and measures, through its public op API (``process`` on a batch)."""
    import pyarrow as pa

    from thresher.ops.base import OpContext
    from thresher.ops.text.words import lines

    texts = [t or "" for t in _TEXTS[bounds[0]:bounds[1]]]
    batch = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(*bounds)], "text": texts})
    rows: list[dict] = [{"th_m_lines": len(lines(t))} for t in texts]

    def run(op, key: str, flag: bool = False, columns: dict | None = None) -> None:
        result = op.process(batch, OpContext())
        for row, why in zip(rows, result.reasons):
            row[key] = why is not None if flag else why
        for column, name in (columns or {}).items():
            for row, value in zip(rows, result.batch.column(column).to_pylist()):
                row[f"th_m_{name}"] = value

    run(_W["gq"], "th_gq", columns=TH_GQ_COLUMNS)
    for name, op in _W["gq_rules"]:
        run(op, f"th_gq|{name}", flag=True)
    run(_W["gr"], "th_gr")
    for key, name, op in _W["gr_rules"]:  # alone, a rule's value is always written
        run(op, f"th_gr|{name}", flag=True, columns={f"th_rep_{key}": key})
    run(_W["c4"], "th_c4", columns={"th_c4_sentences": "c4_sentences"})
    for name, op in _W["c4_rules"]:
        run(op, f"th_c4|{name}", flag=True)
    run(_W["c4_swapped"], "th_c4_swapped")
    return rows


def _memo(fn):
    """Memoize a tokenizer call for the current document (the cache is cleared per document)."""
    cache: dict = {}

    def wrapped(text, *args, **kwargs):
        key = (text, args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = fn(text, *args, **kwargs)
        return cache[key]

    wrapped.cache = cache
    return wrapped


def _dt_init() -> None:
    warnings.filterwarnings("ignore")
    from loguru import logger

    logger.remove()
    import datatrove.pipeline.filters.c4_filters as c4m
    import datatrove.pipeline.filters.gopher_quality_filter as gqm
    import datatrove.pipeline.filters.gopher_repetition_filter as grm
    from datatrove.utils import text as textm

    # Every variant of a filter tokenizes the same document: tokenize it once.
    words = _memo(textm.split_into_words)
    sentences = _memo(textm.split_into_sentences)
    count = [0]

    def counted_sentences(text, *args, **kwargs):  # C4QualityFilter's sentence count, observed
        found = sentences(text, *args, **kwargs)
        count[0] += len(found)
        return found

    gqm.split_into_words = grm.split_into_words = words
    c4m.split_into_sentences = counted_sentences
    _W["sentence_count"] = count
    _W["caches"] = (words.cache, sentences.cache)
    _W["words"] = words
    _W["gq"] = gqm.GopherQualityFilter()
    _W["gq_rules"] = [(name, gqm.GopherQualityFilter(**{**DT_GQ_OFF, **p})) for name, _, p in GQ_RULES]
    _W["gr"] = grm.GopherRepetitionFilter()
    _W["gr_rules"] = [(name, grm.GopherRepetitionFilter(**{**DT_GR_OFF, **p})) for _, name, _, p in GR_RULES]
    _W["c4"] = c4m.C4QualityFilter()
    _W["c4_rules"] = [(name, c4m.C4QualityFilter(**p)) for name, _, p in C4_RULES]
    _W["c4_swapped"] = c4m.C4QualityFilter(**C4_SWAPPED["dt"])
    _W["grm"] = grm


def _dt_verdict(flt, text: str):
    """``None`` (kept) or the reason (``"removed"`` without one, ``"error: ..."`` when it raises)."""
    from datatrove.data import Document

    try:
        r = flt.filter(Document(text=text, id="x"))
    except Exception as e:  # a rule alone divides by 0 words / 0 lines on an empty text
        return f"error: {type(e).__name__}"
    if r is True:
        return None
    return r[1] if isinstance(r, tuple) else "removed"


STOPS = {"the", "be", "to", "of", "and", "that", "have", "with"}


def _dt_chunk(bounds: tuple[int, int]) -> list[dict]:
    from datatrove.utils.text import PUNCTUATION_SET
    from datatrove.utils.typeshelper import Languages

    grm = _W["grm"]
    out = []
    for i in range(*bounds):
        text = _TEXTS[i] or ""
        for c in _W["caches"]:
            c.clear()
        row = {"dt_gq": _dt_verdict(_W["gq"], text)}
        for name, f in _W["gq_rules"]:
            v = _dt_verdict(f, text)
            row[f"dt_gq|{name}"] = v is not None and not v.startswith("error")
        row["dt_gr"] = _dt_verdict(_W["gr"], text)
        for name, f in _W["gr_rules"]:
            v = _dt_verdict(f, text)
            row[f"dt_gr|{name}"] = v is not None and not v.startswith("error")
        count = _W["sentence_count"]
        count[0] = 0
        row["dt_c4"] = _dt_verdict(_W["c4"], text)
        row["dt_m_c4_sentences"] = count[0]
        for name, f in _W["c4_rules"]:
            row[f"dt_c4|{name}"] = _dt_verdict(f, text) is not None
        count[0] = 0
        row["dt_c4_swapped"] = _dt_verdict(_W["c4_swapped"], text)
        row["dt_m_c4_swapped_sentences"] = count[0]
        # datatrove's measures, recomputed from its own tokens and helpers (for the explanations)
        words = _W["words"](text, Languages.english)  # the filters' own call: served from the memo
        nonsym = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
        n = len(words)
        lines_ = text.splitlines()
        row["dt_m_tokens"] = n
        row["dt_m_words"] = len(nonsym)
        row["dt_m_mean_len"] = sum(map(len, nonsym)) / len(nonsym) if nonsym else 0.0
        row["dt_m_alpha"] = sum(any(c.isalpha() for c in w) for w in words) / n if n else 0.0
        row["dt_m_alpha_nonsym"] = (sum(any(c.isalpha() for c in w) for w in nonsym) / len(nonsym)
                                    if nonsym else 0.0)
        row["dt_m_stops"] = len(STOPS & set(words))
        row["dt_m_stops_ci"] = len(STOPS & {w.lower() for w in words})
        row["dt_m_hash"] = text.count("#") / n if n else 0.0
        row["dt_m_ellipsis"] = (text.count("...") + text.count("…")) / n if n else 0.0
        row["dt_m_lines"] = len(lines_)
        row["dt_m_bullets"] = (sum(s.lstrip().startswith(("•", "-")) for s in lines_) / len(lines_)) if lines_ else 0.0
        row["dt_m_ellipsis_lines"] = (sum(s.rstrip().endswith(("...", "…")) for s in lines_) / len(lines_)
                                      if lines_ else 0.0)
        if text:
            paras = re.split(r"\n{2,}", text.strip())
            pd, pc = grm.find_duplicates(paras)
            lns = re.split("\n+", text)
            ld, lc = grm.find_duplicates(lns)
            row["dt_m_dup_para_frac"], row["dt_m_dup_para_char_frac"] = pd / len(paras), pc / len(text)
            row["dt_m_dup_line_frac"], row["dt_m_dup_line_char_frac"] = ld / len(lns), lc / len(text)
            for n_ in (2, 3, 4):
                grams = grm.get_n_grams(words, n_)
                row[f"dt_m_top_{n_}gram_frac"] = grm.find_top_duplicate(grams) / len(text) if grams else 0.0
                row[f"dt_m_top_{n_}gram_count"] = collections.Counter(grams).most_common(1)[0][1] if grams else 0
            for n_ in range(5, 11):
                row[f"dt_m_dup_{n_}gram_frac"] = grm.find_all_duplicate(words, n_) / len(text)
        row["dt_tokens"] = " ".join(words)  # for thresher's n-gram formulas on these tokens (analysis)
        out.append(row)
    return out


def _pool_map(init, fn, n: int, procs: int, chunk: int = 250) -> list[dict]:
    ctx = mp.get_context("fork")  # the workers inherit _TEXTS
    bounds = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    rows: list[dict] = []
    with ctx.Pool(procs, initializer=init) as pool:
        for k, part in enumerate(pool.imap(fn, bounds)):
            rows.extend(part)
            if k % 40 == 39:
                log(f"  {len(rows)}/{n}")
    return rows


#: bump when _dt_chunk's output changes (invalidates agreement/datatrove.parquet)
DT_FORMAT = 2


def compute_agreement(input_dir: Path, out: Path, procs: int, reuse: bool) -> "object":
    """One table, one row per document: thresher's columns (always recomputed: about a minute) and
    datatrove's (about 20 minutes on 2 cores; reused with ``--reuse`` when input and versions match)."""
    from importlib.metadata import version

    import pyarrow as pa
    import pyarrow.parquet as pq

    global _TEXTS
    folder = out / "agreement"
    folder.mkdir(parents=True, exist_ok=True)
    ids, texts = read_texts(input_dir)
    _TEXTS = texts
    timings_path = folder / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    t = time.perf_counter()
    log(f"agreement: thresher, every filter and rule alone, {len(texts)} docs, {procs} processes")
    th = pa.Table.from_pylist(_pool_map(_th_init, _th_chunk, len(texts), procs, chunk=2000))
    timings["thresher"] = time.perf_counter() - t
    pq.write_table(th, folder / "thresher.parquet", compression="zstd")
    dt_path, meta_path = folder / "datatrove.parquet", folder / "datatrove.json"
    meta = {"format": DT_FORMAT, "datatrove": version("datatrove"), "spacy": version("spacy"), "records": len(ids),
            "ids_hash": hash_ids(ids)}
    if reuse and dt_path.exists() and meta_path.exists() and json.loads(meta_path.read_text()) == meta:
        log(f"agreement: datatrove, reusing {dt_path}")
        dt = pq.read_table(dt_path)
    else:
        t = time.perf_counter()
        log(f"agreement: datatrove, every filter and rule alone, {len(texts)} docs, {procs} processes (slow)")
        dt = pa.Table.from_pylist(_pool_map(_dt_init, _dt_chunk, len(texts), procs))
        timings["datatrove"] = time.perf_counter() - t
        pq.write_table(dt, dt_path, compression="zstd")
        meta_path.write_text(json.dumps(meta))
    timings_path.write_text(json.dumps(timings))
    table = pa.table({"id": ids, "text": texts})
    for part in (th, dt):
        for name in part.column_names:
            table = table.append_column(name, part.column(name))
    return table


def hash_ids(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------- agreement: analysis

def contingency(th_removed, dt_removed) -> dict:
    c = collections.Counter(zip(th_removed, dt_removed))
    return {"both keep": c[(False, False)], "both remove": c[(True, True)],
            "only thresher removes": c[(True, False)], "only datatrove removes": c[(False, True)]}


def pct_agree(c: dict) -> str:
    total = sum(c[k] for k in ("both keep", "both remove", "only thresher removes", "only datatrove removes"))
    return f"{100 * (c['both keep'] + c['both remove']) / total:.2f}%" if total else "-"


BULLET_START = re.compile(r"^\s*[•‣◦⁃∙●○▪▫■□►▸➢➤*-]")


def gq_cause(r: dict, rule: str, d: str) -> str:
    """Why the tools disagree on one Gopher quality rule for one document (``d``: who removes)."""
    if rule == "gopher word count":
        if r["dt_m_words"] > r["th_m_words"]:
            return ("spaCy splits whitespace words at hyphens, slashes, apostrophes, brackets and symbols: "
                    "datatrove counts more words")
        if r["dt_m_words"] < r["th_m_words"]:
            return ("datatrove drops punctuation-only tokens from the count; thresher counts standalone marks "
                    "('-', '>>>', '|', '/') as words")
        return "other"
    if rule == "gopher mean word length":
        th, dt = r["th_m_mean_len"], r["dt_m_mean_len"]
        if d == "th" and r["th_m_words"] == 0:
            return "no words at all: thresher's mean is 0 (fails), datatrove's is NaN (passes)"
        if d == "th" and th > 10:
            return "thresher > 10: punctuation and markup attached to words (<url>, {link}, e-mail) lengthen them"
        if d == "th" and th < 3:
            return "thresher < 3: standalone marks and short symbols count as 1-character words"
        if d == "dt" and dt < 3:
            return ("datatrove < 3: spaCy cuts symbols (box drawing, operators) and contractions into "
                    "1-2 character tokens")
        if d == "dt" and dt > 10:
            return ("datatrove > 10: spaCy keeps long tokens whole (URLs, paths) while thresher's average "
                    "includes short marks")
        return f"other (thresher {th:.2f}, datatrove {dt:.2f})"
    if rule == "gopher symbol ratio":
        if d == "th":
            return ("denominator: datatrove divides by all spaCy tokens, punctuation included, so its '#' and "
                    "'...' ratios are lower")
        return "denominator: thresher's whitespace words outnumber datatrove's tokens"
    if rule == "gopher bullet lines":
        if d == "th" and any(BULLET_START.match(x) and not x.lstrip().startswith(("•", "-"))
                             for x in r["text"].splitlines()):
            return "bullet marks: datatrove counts only '•' and '-'; thresher also '*', '▪', '►' ..."
        if r["dt_m_lines"] != r["th_m_lines"]:
            return "blank lines: datatrove's denominator counts blank lines (str.splitlines), thresher's does not"
        return "other"
    if rule == "gopher ellipsis lines":
        if r["dt_m_lines"] != r["th_m_lines"]:
            return "blank lines: datatrove's denominator counts blank lines (str.splitlines), thresher's does not"
        return "other"
    if rule == "gopher alphabetic words":
        if d == "dt" and r["dt_m_alpha_nonsym"] >= 0.8:
            return "datatrove counts every punctuation token ( ) , . { } as a word without a letter"
        if d == "dt":
            return ("spaCy splits off symbols datatrove does not count as punctuation ('¿', '¡', box drawing, "
                    "'/' in paths, digits): each is a letterless word")
        return "thresher's letterless whitespace words (numbers, '>>>', '--') weigh more than in spaCy's split"
    if rule == "gopher stop words":
        if d == "dt" and r["dt_m_stops_ci"] >= 2:
            return "datatrove matches stop words case-sensitively: 'The', 'And', 'THE' do not count"
        if d == "th":
            return ("spaCy splits contractions, hyphenated words and identifiers, exposing stop words inside them "
                    "('that's' -> 'that', 'haven't' -> 'have', 'end-to-end' -> 'to', 'and_()' -> 'and')")
        return "other"
    return "other"


GR_KEY = {name: (key, limit) for key, name, limit, _ in GR_RULES}


def gr_cause(r: dict, rule: str, d: str) -> str:
    if rule == "(empty text)":
        return "empty text: datatrove removes it ('empty'), thresher's repetition measures are 0"
    key, limit = GR_KEY[rule]
    if "gram" in key:
        n = int(re.search(r"\d+", key).group())
        if d == "dt" and key.startswith("top") and r.get(f"dt_m_top_{n}gram_count") == 1:
            return "datatrove counts the top n-gram even when it occurs only once: short texts fail"
        thf = r.get(f"dt_m_thf_{key}")
        if thf is not None and (thf > limit) == (d == "th"):
            # same tokens, thresher's formula gives thresher's verdict: the formula decides
            if key.startswith("top"):
                if d == "th":
                    return ("top n-gram denominator: datatrove divides by len(text) (spaces, newlines, indentation "
                            "included), thresher by the characters of the words")
                return "top n-gram numerator: datatrove counts the n-1 spaces inside the n-gram (' '.join)"
            if d == "th":
                from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate
                from datatrove.utils.text import split_into_words

                words = split_into_words(r["text"])
                jump = find_all_duplicate(words, n) / max(1, sum(map(len, words)))
                if jump > limit:
                    return ("duplicate n-gram denominator: datatrove divides by len(text) (whitespace included), "
                            "thresher by the characters of the words")
                return ("duplicate n-gram scan: datatrove jumps n words after each duplicate n-gram and misses "
                        "overlapping repeats; thresher counts the union of all repeated occurrences")
            return ("n-gram identity: datatrove joins the n words without a separator, so different n-grams "
                    "collide ('.', '..' and '..', '.' are both '...')")
        return ("tokenization: spaCy makes each punctuation mark and symbol a token of its own "
                "('Language}.' -> 'Language', '}', '.'; box-drawing rules -> one token per character)")
    if "char" in key:
        return ("characters: datatrove counts unstripped lines/paragraphs (indentation included) over len(text); "
                "thresher counts stripped ones over their own characters")
    if key.startswith("dup_line"):
        return "lines: datatrove does not strip lines, so the same line indented differently is not a repeat"
    return "paragraphs: datatrove splits paragraphs on '\\n\\n+' only (a blank line holding spaces does not separate)"


def _dt_c4_lines(text: str, min_words: int = 3) -> list[str]:
    """The lines datatrove's C4QualityFilter keeps before its page rules (its loop, from c4_filters.py)."""
    kept = []
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if any(len(w) > 1000 for w in words):
            continue
        line = re.sub(r"\[\d*]|\[edit]|\[citation needed]", "", line)
        if not line.endswith((".", "?", "!", '"', "'")) or line.endswith("..."):
            continue
        if len(words) < min_words:
            continue
        low = line.lower()
        if "javascript" in low or any(p in low for p in ("terms of use", "privacy policy", "cookie policy",
                                                          "uses cookies", "use of cookies", "use cookies")):
            continue
        kept.append(line)
    return kept


def c4_cause(r: dict, rule: str, d: str, th_swapped_op=None) -> str:
    th_swapped = r["th_c4_swapped"] is not None
    dt = r["dt_c4"] is not None
    if th_swapped == dt:
        return ("parameters: the paper's final text and TFDS keep lines of >= 5 words and pages of >= 3 sentences; "
                "datatrove uses arXiv v1's 3 words / 5 sentences")
    # same parameters, still different: compare the kept lines
    th_lines = th_swapped_op.clean(r["text"])[0].split("\n") if th_swapped_op else []
    th_lines = [x for x in th_lines if x]
    dt_lines = _dt_c4_lines(r["text"])
    if th_lines != dt_lines:
        only = [x for x in dt_lines if x not in th_lines] + [x for x in th_lines if x not in dt_lines]
        if any(x.endswith("'") for x in only):
            return "terminal punctuation: datatrove accepts a line ending in \"'\" (TFDS and thresher do not)"
        if any(x.endswith("”") for x in only):
            return "terminal punctuation: thresher accepts a closing '”' (TFDS and datatrove do not)"
        if any("[" in x or x != x.strip() for x in only) or "[" in r["text"]:
            return "citation markers: thresher strips the line again after removing '[1]'"
        if len(r["text"].splitlines()) != len(r["text"].split("\n")):
            return "line splitting: datatrove uses str.splitlines (also \\r, \\f, \\v, \\x1c-\\x1e, \\u2028)"
        return "other line-level difference"
    if d == "dt":
        return ("sentence counting (same kept lines): thresher's regex also splits after initials, abbreviations and "
                "ellipses ('C. A. R. Hoare', 'a.C.', 'Hello...'), so it counts more sentences than spaCy's sentencizer")
    return ("sentence counting (same kept lines): spaCy's sentencizer splits inside dotted names "
            "('importlib.util.LazyLoader', 'asyncio.Future'), so datatrove counts more sentences")


def analyze(table, out: Path) -> dict:
    from thresher.ops.text.c4 import C4Quality
    from thresher.ops.text.ngrams import ngram_fractions

    th_swapped_op = C4Quality(**C4_SWAPPED["th"])
    rows = table.to_pylist()
    # thresher's n-gram formulas (thresher.ops.text.ngrams) on datatrove's tokens, joined by spaces:
    # separates the tokenization from the formula in the explanations of the n-gram rules
    thf = ngram_fractions(table.column("dt_tokens").combine_chunks(), (2, 3, 4), tuple(range(5, 11)))
    for key, values in thf.items():
        kind, n = key.split("_")
        name = f"dt_m_thf_{kind}_{n}gram_frac"
        for r, v in zip(rows, values.tolist()):
            r[name] = v
    result: dict = {"filters": {}, "rules": {}, "classes": {}, "checks": {}}
    examples: dict = collections.defaultdict(list)
    causes = {"gq": gq_cause, "gr": gr_cause, "c4": lambda r, rule, d: c4_cause(r, rule, d, th_swapped_op)}
    rule_names = {"gq": [x[0] for x in GQ_RULES], "gr": [x[1] for x in GR_RULES], "c4": [x[0] for x in C4_RULES]}
    for f, k in zip(FILTERS, ("gq", "gr", "c4")):
        th = [r[f"th_{k}"] is not None for r in rows]
        dt = [r[f"dt_{k}"] is not None for r in rows]
        result["filters"][f] = contingency(th, dt)
        fired = collections.Counter()
        classes = collections.Counter()
        masked = collections.Counter()  # ... of which both tools' gopher_quality removes anyway
        for r, a, b in zip(rows, th, dt):
            if a:
                fired[("th", th_rule(r[f"th_{k}"]))] += 1
            if b:
                fired[("dt", dt_rule(r[f"dt_{k}"]))] += 1
            if a == b:
                continue
            d = "th" if a else "dt"
            rule = th_rule(r[f"th_{k}"]) if a else dt_rule(r[f"dt_{k}"])
            cause = causes[k](r, rule, d)
            classes[(d, rule, cause)] += 1
            masked[(d, rule, cause)] += r["th_gq"] is not None and r["dt_gq"] is not None
            examples[(f, d, rule, cause)].append(r)
        result["fired"] = result.get("fired", {})
        result["fired"][f] = {f"{who}|{rule}": c for (who, rule), c in sorted(fired.items(), key=lambda x: -x[1])}
        result["classes"][f] = [{"removed_by": d, "rule": rule, "cause": cause, "count": c,
                                 "gq_removes_both": masked[(d, rule, cause)]}
                                for (d, rule, cause), c in classes.most_common()]
        for rule in rule_names[k]:
            a_ = [r[f"th_{k}|{rule}"] for r in rows]
            b_ = [r[f"dt_{k}|{rule}"] for r in rows]
            entry = contingency(a_, b_)
            if k != "c4":  # c4 page rules: the filter-level classes explain them
                entry["causes"] = collections.Counter(
                    ("th" if x else "dt", causes[k](r, rule, "th" if x else "dt"))
                    for r, x, y in zip(rows, a_, b_) if x != y).most_common()
            result["rules"][f"{f}|{rule}"] = entry
    # counterfactual: each tool with the other's C4 numbers
    result["c4_swapped"] = {
        "thresher(3 words, 5 sentences) vs datatrove": contingency(
            [r["th_c4_swapped"] is not None for r in rows], [r["dt_c4"] is not None for r in rows]),
        "thresher vs datatrove(5 words, 3 sentences)": contingency(
            [r["th_c4"] is not None for r in rows], [r["dt_c4_swapped"] is not None for r in rows]),
    }
    result["checks"] = consistency_checks(rows)
    result["examples"] = write_examples(examples, out / "agreement" / "examples.md")
    return result


def consistency_checks(rows: list[dict]) -> dict:
    """The recomputed datatrove measures must give datatrove's own verdicts (each rule alone)."""
    bad = collections.Counter()
    for r in rows:
        n = r["dt_m_tokens"]
        if n:
            bad["alpha"] += (r["dt_m_alpha"] < 0.8) != r["dt_gq|gopher alphabetic words"]
            bad["stop words"] += (r["dt_m_stops"] < 2) != r["dt_gq|gopher stop words"]
        bad["word count"] += (not 50 <= r["dt_m_words"] <= 100_000) != r["dt_gq|gopher word count"]
        if r["text"]:
            for key, name, limit, _ in GR_RULES:
                bad[name] += (r[f"dt_m_{key}"] > limit) != r[f"dt_gr|{name}"]
        # thresher: the first failing rule alone is the rule the whole filter reports
        first = next((name for _, name, _, _ in GR_RULES if r[f"th_gr|{name}"]), None)
        bad["thresher repetition order"] += first != th_rule(r["th_gr"])
        first = next((name for name, _, _ in GQ_RULES if r[f"th_gq|{name}"]), None)
        bad["thresher quality order"] += first != th_rule(r["th_gq"])
    return dict(bad)


def _snippet(text: str, n: int = 160) -> str:
    s = text if len(text) <= n else text[:n] + "…"
    return json.dumps(s, ensure_ascii=False)


def write_examples(examples: dict, path: Path, per_class: int = 3) -> dict:
    """Up to ``per_class`` shortest documents per disagreement class, to ``path``; returns the first of each."""
    first = {}
    lines = ["# Disagreement examples (each filter alone; shortest documents of each class)", ""]
    for (f, d, rule, cause), rs in sorted(examples.items(), key=lambda x: (x[0][0], -len(x[1]))):
        who = "only thresher removes" if d == "th" else "only datatrove removes"
        lines += [f"## {f} / {who} / {rule}", f"cause: {cause} ({len(rs)} documents)", ""]
        picked = sorted(rs, key=lambda r: (len(r["text"]), r["id"]))[:per_class]
        for r in picked:
            reason = r["th_" + {"gopher_quality": "gq", "gopher_repetition": "gr", "c4_quality": "c4"}[f]]
            dreason = r["dt_" + {"gopher_quality": "gq", "gopher_repetition": "gr", "c4_quality": "c4"}[f]]
            lines += [f"- `{r['id']}`: thresher: {reason or 'kept'}; datatrove: {dreason or 'kept'}",
                      "  ```", *("  " + x for x in r["text"][:600].splitlines()), "  ```"]
        lines.append("")
        r = picked[0]
        first[f"{f}|{d}|{rule}|{cause}"] = {"id": r["id"], "text": _snippet(r["text"])}
    path.write_text("\n".join(lines))
    return first


# -------------------------------------------------------------------------------------- tables

def fmt_int(n: int) -> str:
    return f"{n:,}"


def speed_table(runs: dict, n: int) -> list[str]:
    dt_med = statistics.median(m["seconds"] for m in runs["datatrove"])
    dt_cpu = statistics.median(m["cpu_seconds"] for m in runs["datatrove"])
    out = ["| tool | docs/s | wall s (median) | CPU s (user+sys, all processes) | peak RSS | kept "
           "| thresher / datatrove (docs/s) | ... (CPU s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, ms in runs.items():
        secs = [m["seconds"] for m in ms]
        med, cpu = statistics.median(secs), statistics.median(m["cpu_seconds"] for m in ms)
        rss = max(m["peak_rss_bytes"] for m in ms)
        all_s = "" if len(secs) == 1 else f" (runs: {', '.join(f'{s:.1f}' for s in secs)})"
        ratio = ("1.00 (reference)", "1.00") if name == "datatrove" else (f"**{dt_med / med:.1f}x**",
                                                                           f"{dt_cpu / cpu:.1f}x")
        out.append(f"| {name} | {n / med:,.0f} | {med:.1f}{all_s} | {cpu:.1f} | {rss / 2**20:,.0f} MiB | "
                   f"{fmt_int(ms[0]['kept'])} | {ratio[0]} | {ratio[1]} |")
    return out


HEAD4 = "both keep | both remove | only thresher removes | only datatrove removes | agreement |"


def cells4(c: dict) -> str:
    return (f"{fmt_int(c['both keep'])} | {fmt_int(c['both remove'])} | {fmt_int(c['only thresher removes'])} | "
            f"{fmt_int(c['only datatrove removes'])} | {pct_agree(c)}")


def render(summary: dict) -> str:
    env = summary.get("env", {})
    n = env.get("records", 0)
    L = [f"Input: {fmt_int(n)} records ({env.get('input')}), {env.get('workers')} workers, {env.get('cores')} cores; "
         f"thresher {env.get('thresher')} (git {env.get('commit')}), datatrove {env.get('datatrove')}, "
         f"spaCy {env.get('spacy')}, "
         f"Python {env.get('python')}; {env.get('date')}.", ""]
    if "speed" in summary:
        runs = summary["speed"]
        L += ["### Speed: Gopher quality -> Gopher repetition -> C4 quality, end to end", ""]
        L += speed_table(runs, n)
        loads = [m.get("load_before") for ms in runs.values() for m in ms]
        L += ["", f"1-minute load average before each run: {', '.join(f'{x:.2f}' for x in loads)}."]
        if summary.get("speed_commit", env.get("commit")) != env.get("commit"):
            L.append(f"Speed measured at thresher git {summary['speed_commit']}.")
        L.append("")
        L += ["Time per step (first run of each; seconds summed over the workers; datatrove: its stats.json):", "",
              "| tool | step | docs in | seconds |", "|---|---|---:|---:|"]
        for name, ms in runs.items():
            for step, st in ms[0].get("steps", {}).items():
                if name == "datatrove":
                    L.append(f"| {name} | {step} | {st['stats'].get('total', st['stats'].get('documents', ''))} | "
                             f"{st['seconds'] or 0:.1f} |")
                elif step != "input":
                    L.append(f"| {name} | {step} | {fmt_int(st['in'])} | {st['seconds']:.1f} |")
        L.append("")
    if "pipeline" in summary:
        p = summary["pipeline"]
        L += ["### Pipeline outcome per record (speed runs: thresher fused vs datatrove)", "",
              "| thresher \\ datatrove | " + " | ".join(FILTERS) + " | kept |", "|---|" + "---:|" * (len(FILTERS) + 1)]
        for a in (*FILTERS, "kept"):
            cells = (fmt_int(p["cross"].get(f"{a}|{b}", 0)) for b in (*FILTERS, "kept"))
            L.append(f"| {a} | " + " | ".join(cells) + " |")
        L += ["", f"Records kept by both: {fmt_int(p['kept_both'])}, of which {fmt_int(p['kept_both_same_text'])} "
              "with the same cleaned text (C4 rewrites the text).", ""]
    ag = summary.get("agreement")
    if ag:
        L += ["### Each filter alone on every record (default parameters)", "",
              "| filter | " + HEAD4, "|---|---:|---:|---:|---:|---:|"]
        for f, c in ag["filters"].items():
            L.append(f"| {f} | {cells4(c)} |")
        L += ["", "Rule that fired (each filter alone; thresher: the text of `reason` before ': ', datatrove: its "
              "filter_reason mapped to the same rule):", "", "| filter | rule | thresher removes | datatrove removes |",
              "|---|---|---:|---:|"]
        for f, fired in ag["fired"].items():
            rules = list(dict.fromkeys(k.split("|", 1)[1] for k in fired))
            for rule in rules:
                th_n, dt_n = fmt_int(fired.get("th|" + rule, 0)), fmt_int(fired.get("dt|" + rule, 0))
                L.append(f"| {f} | {rule} | {th_n} | {dt_n} |")
        L += ["", "### Each rule alone (every other rule of its filter off; each tool's own code)", "",
              "| filter | rule | " + HEAD4, "|---|---|---:|---:|---:|---:|---:|"]
        for key, c in ag["rules"].items():
            f, rule = key.split("|")
            L.append(f"| {f} | {rule} | {cells4(c)} |")
        L += ["", "### Disagreements by class (each filter alone)", "",
              "Last column but one: how many of these documents both tools' Gopher quality filter removes anyway "
              "(in the pipeline they never reach the later filters).", "",
              "| filter | removed only by | rule that fired | cause | docs | also removed by gopher_quality (both) "
              "| example |", "|---|---|---|---|---:|---:|---|"]
        for f, classes in ag["classes"].items():
            for c in classes:
                ex = ag["examples"].get(f"{f}|{c['removed_by']}|{c['rule']}|{c['cause']}", {})
                who = "thresher" if c["removed_by"] == "th" else "datatrove"
                gq = "-" if f == "gopher_quality" else fmt_int(c["gq_removes_both"])
                L.append(f"| {f} | {who} | {c['rule']} | {c['cause']} | {fmt_int(c['count'])} | {gq} | "
                         f"`{ex.get('id', '')}` |")
        L += ["", "### Rule-level disagreements by cause (each rule alone)", "",
              "| rule | removed only by | cause | docs |", "|---|---|---|---:|"]
        for key, c in ag["rules"].items():
            for (d, cause), cnt in c.get("causes", []):
                who = "thresher" if d == "th" else "datatrove"
                L.append(f"| {key.split('|')[1]} | {who} | {cause} | {fmt_int(cnt)} |")
        L += ["", "### C4 with the other tool's numbers (lines >= N words, pages >= M sentences)", "",
              "| comparison | " + HEAD4, "|---|---:|---:|---:|---:|---:|"]
        for name, c in ag["c4_swapped"].items():
            L.append(f"| {name} | {cells4(c)} |")
        L += ["", "Consistency checks (mismatches; all should be 0): "
              + ", ".join(f"{k} {v}" for k, v in ag["checks"].items()), ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_datatrove"]:
        _datatrove_pipeline(argv[1], argv[2], int(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="thresher speed runs per configuration (median)")
    ap.add_argument("--dt-repeats", type=int, default=2, help="datatrove speed runs (median)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records (a quick check)")
    ap.add_argument("--skip-speed", action="store_true", help="reuse summary.json's speed section")
    ap.add_argument("--skip-agreement", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse agreement/docs.parquet when it matches the input")
    args = ap.parse_args(argv)
    if not args.input.exists():
        raise SystemExit(f"{args.input} is missing: python bench/corpus.py docs --n 100000 --out {args.input}")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    input_dir = out / "input"
    n = split_input(args.input, input_dir, args.workers, args.limit)
    log(f"input: {n} records from {args.input} -> {input_dir}/part-*.jsonl")
    summary["env"] = env_info(args, n)
    if not args.skip_speed:
        summary["speed"] = speed(input_dir, out, args.workers, args.repeats, args.dt_repeats, n)
        summary["speed_commit"] = summary["env"]["commit"]
        summary["pipeline"] = pipeline_agreement(out)
        summary_path.write_text(json.dumps(summary, indent=1, default=str))
    if not args.skip_agreement:
        table = compute_agreement(input_dir, out, args.workers, args.reuse)
        summary["agreement"] = analyze(table, out)
    end = env_info(args, n)["commit"]
    if end != summary["env"]["commit"]:
        summary["env"]["commit"] += f" at the start, {end} at the end"
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    text = render(summary)
    (out / "tables.md").write_text(text + "\n")
    print(text)
    return 0


def env_info(args, n: int) -> dict:
    import subprocess
    from importlib.metadata import version

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    commit = git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in src/" if git("status", "--porcelain",
                                                                                              "src") else "")
    return {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "cores": os.cpu_count(),
            "thresher": version("thresher"), "commit": commit, "datatrove": version("datatrove"),
            "spacy": version("spacy"), "input": str(args.input), "records": n, "workers": args.workers}


if __name__ == "__main__":
    sys.exit(main())
