#!/usr/bin/env python3
"""Fuzzy dedup, thresher vs rensa, datasketch and datatrove: docs/s, peak RSS and P/R/F1 against
the injected ground truth, on one corpus in one run.

    bash bench/setup_peers.sh                                  # once: bench/.venv-peers
    python bench/dedup_corpus.py build --base 200000 --out bench/.data/dedup200k   # once
    .venv/bin/python bench/dedup.py --corpus bench/.data/dedup200k [--tools thresher rensa ...]
        [--workers 2] [--determinism] [--rensa-bands 16] [--repeat 3]

Builds nothing: ``--corpus`` is a directory from ``bench/dedup_corpus.py`` (``corpus.jsonl``,
``truth.jsonl``). Each tool runs in its own process; wall time and peak RSS of its whole
process tree come from ``bench/measure.py``:

- thresher: ``.venv/bin/thresher run RECIPE --fresh --no-progress``, the recipe (written to
  ``OUT/thresher/recipe.yaml``): input ``corpus.jsonl``, ``executor: {workers: W}``, one step
  ``dedup_minhash: {}`` (default parameters), Parquet output; its removed ids are the rows of
  ``removed/*.parquet`` with ``removed_by == "dedup_minhash"``;
- rensa, datasketch (one process each) and datatrove (W workers):
  ``bench/.venv-peers/bin/python bench/dedup_peers.py TOOL --corpus ... --out OUT/TOOL`` (see
  that file for the settings; all at threshold 0.8, each with its own band choice).

docs/s is documents over the tool's wall time (process start to exit: reading, signatures,
LSH, clustering, writing). Every tool's removed ids are scored with
``thresher.dedup_eval.evaluate`` twice: against all injected duplicates, and against those of
true Jaccard >= 0.8 only (injected documents below it then count as neither right nor wrong).
``--determinism`` also runs thresher with 1 and 2 workers and compares the removed ids.
``--repeat N`` runs N rounds (each tool once per round, in turn, so that a slow spell of this
shared VM falls on every tool) and reports each tool's run of median wall time, with every
round's times and the per-round ratio thresher/rensa. Before thresher's first timed run its
bytecode and numba's cache of its kernels are built (``compile_bytecode``: a warm-up run over
2,000 documents), as a package install and its first use do.
Outputs in ``OUT`` (default ``bench/out/dedup``): ``table.md`` (what is printed),
``summary.json`` and each tool's run directory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from common import cli_run, loadavg, log  # noqa: E402
from measure import measured  # noqa: E402

TOOLS = ("thresher", "rensa", "datasketch", "datatrove")
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
STEP = "dedup_minhash"

RECIPE = """\
# written by bench/dedup.py
input: {{path: {input}, text_field: text, id_field: id}}
output: {{path: {output}, format: parquet}}
executor: {{kind: local, workers: {workers}}}
seed: 0
steps:
  - {step}: {{}}
"""


def compile_bytecode(corpus: Path, out: Path) -> None:
    """Write thresher's bytecode, and numba's cache of its compiled MinHash loops, once before
    timing, as installing a package and its first use do: the peers come from wheels whose
    bytecode pip compiled (rensa's loops are compiled Rust), so every tool starts warm. The
    numba cache is rebuilt after any edit of ``kernels.py`` (about 7 s); the warm-up is a run
    over the corpus's first 2,000 lines."""
    import compileall

    import thresher

    compileall.compile_dir(Path(thresher.__file__).parent, quiet=1)
    sample = out / "warm-up" / "corpus.jsonl"
    sample.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus, encoding="utf-8") as src:
        sample.write_text("".join(line for _, line in zip(range(2000), src)), encoding="utf-8")
    run_thresher(sample, out / "warm-up" / "run", 2)


def run_thresher(corpus: Path, run_dir: Path, workers: int) -> dict:
    import pyarrow.compute as pc

    from thresher import read_output
    from thresher.manifest import load_manifest

    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    recipe = run_dir / "recipe.yaml"
    out = run_dir / "out"
    recipe.write_text(RECIPE.format(input=json.dumps(str(corpus)), output=json.dumps(str(out)), workers=workers,
                                    step=STEP))
    m = measured(cli_run(recipe, "--fresh"), run_dir / "log.txt")
    table = read_output(out, "removed", ["id", "removed_by"])
    removed = table.filter(pc.equal(table.column("removed_by"), STEP)).column("id").to_pylist()
    manifest = load_manifest(out)
    m.update(removed=removed, docs=manifest["counts"]["input"], settings=thresher_settings(workers),
             internal_seconds=None)
    return m


def thresher_settings(workers: int) -> dict:
    try:
        from thresher.ops.dedup.minhash import DedupMinhash

        op = DedupMinhash()
        bands, rows = op.bands_rows()
        return {"num_perm": op.num_perm, "bands": bands, "rows": rows, "workers": workers}
    except Exception as exc:  # the op's API is still moving; the table does not depend on it
        return {"workers": workers, "note": f"settings unavailable: {exc}"}


def run_peer(tool: str, corpus: Path, run_dir: Path, workers: int, python: Path, bands: int | None) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cmd = [str(python), str(HERE / "dedup_peers.py"), tool, "--corpus", str(corpus), "--out", str(run_dir),
           "--workers", str(workers)]
    if bands:
        cmd += ["--bands", str(bands)]
    m = measured(cmd, run_dir / "log.txt")
    timing = json.loads((run_dir / "timing.json").read_text())
    m.update(removed=(run_dir / "removed_ids.txt").read_text(encoding="utf-8").split("\n")[:-1] or [],
             docs=timing["docs"], settings=timing["settings"], internal_seconds=timing["seconds"],
             versions=timing["versions"])
    return m


# ------------------------------------------------------------------------------------ scoring

def score(removed: list[str], truth: Path, min_jaccard: float | None) -> dict:
    from thresher.dedup_eval import evaluate

    s = evaluate(list(removed), truth, min_jaccard=min_jaccard)
    return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "tp": s.tp, "fp": s.fp, "fn": s.fn}


# -------------------------------------------------------------------------------------- report

def prf(s: dict) -> str:
    return f"{s['precision']:.3f} / {s['recall']:.3f} / {s['f1']:.3f}"


def table(results: dict[str, dict]) -> str:
    base_speed = results.get("rensa", {}).get("docs_per_s")
    base_rss = results.get("datasketch", {}).get("peak_rss_bytes")
    base_pss = results.get("datasketch", {}).get("peak_pss_bytes")
    lines = ["| tool | docs/s | ratio vs rensa | peak RSS MiB (tree sum) | ratio vs datasketch | peak PSS MiB "
             "| ratio vs datasketch | P / R / F1 (J >= 0.8) | P / R / F1 (all) | wall s | removed | bands x rows |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for tool, r in results.items():
        speed = f"{r['docs_per_s'] / base_speed:.2f}x" if base_speed else "-"
        rss = f"{r['peak_rss_bytes'] / base_rss:.2f}x" if base_rss else "-"
        pss = f"{r['peak_pss_bytes'] / base_pss:.2f}x" if base_pss else "-"
        st = r.get("settings", {})
        bands = f"{st['bands']} x {st['rows']}" if "bands" in st else "?"
        lines.append(f"| {tool} | {r['docs_per_s']:,.0f} | {speed} | {r['peak_rss_bytes'] / 2**20:,.0f} | {rss} | "
                     f"{r['peak_pss_bytes'] / 2**20:,.0f} | {pss} | "
                     f"{prf(r['scores']['j08'])} | {prf(r['scores']['all'])} | {r['seconds']:.1f} | "
                     f"{len(r['removed']):,} | {bands} |")
    return "\n".join(lines)


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the lower middle one of an even number), with every run's."""
    ordered = sorted(runs, key=lambda m: m["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "all_seconds": [round(m["seconds"], 2) for m in runs]}


def rounds_line(results: dict[str, dict]) -> str:
    """Each tool's wall seconds in every round, and the ratio vs rensa per round."""
    parts = [f"{tool} {', '.join(f'{s:.1f}' for s in r['all_seconds'])} s" for tool, r in results.items()]
    line = "Wall time in each round: " + "; ".join(parts) + "."
    if "rensa" in results and "thresher" in results:
        ratios = [b / a for a, b in zip(results["thresher"]["all_seconds"], results["rensa"]["all_seconds"])]
        line += " thresher vs rensa per round: " + ", ".join(f"{x:.2f}x" for x in ratios) + "."
    return line


def truth_summary(truth: Path) -> dict:
    rows = [json.loads(line) for line in open(truth, encoding="utf-8") if line.strip()]
    return {"injected": len(rows), "jaccard_ge_0.8": sum(r["jaccard"] >= 0.8 for r in rows),
            "originals": len({r["dup_of"] for r in rows})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=HERE / ".data" / "dedup200k",
                    help="directory with corpus.jsonl and truth.jsonl (bench/dedup_corpus.py)")
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    ap.add_argument("--workers", type=int, default=2, help="thresher's and datatrove's worker processes")
    ap.add_argument("--determinism", action="store_true", help="also compare thresher's removed ids "
                    "with 1 and 2 workers")
    ap.add_argument("--rensa-bands", type=int, default=None, help="rensa's num_bands (default: 8, what its "
                    "RMinHashDeduplicator picks for threshold 0.8)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every tool; each tool's run of median wall "
                    "time is reported, with every round's wall time")
    ap.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "dedup")
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    corpus, truth = (args.corpus / "corpus.jsonl").resolve(), (args.corpus / "truth.jsonl").resolve()
    for path in (corpus, truth):
        if not path.exists():
            raise SystemExit(f"{path} not found: build it with bench/dedup_corpus.py")
    if {"rensa", "datasketch"} & set(args.tools):
        from dedup_corpus import check_normalization, read_corpus

        check_normalization(read_corpus(corpus)[1])  # the peers' shingles are thresher's
    command = "python bench/dedup.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)

    if "thresher" in args.tools:
        compile_bytecode(corpus, args.out)
    runs: dict[str, list[dict]] = {tool: [] for tool in args.tools}
    for r in range(args.repeat):  # rounds: every tool once per round, so that slow spells hit them all
        for tool in args.tools:
            log(f"{tool}, round {r + 1} of {args.repeat} (load average before: {loadavg():.2f})")
            run_dir = args.out / tool
            if tool == "thresher":
                m = run_thresher(corpus, run_dir, args.workers)
            else:
                m = run_peer(tool, corpus, run_dir, args.workers, args.peers_python,
                             args.rensa_bands if tool == "rensa" else None)
            m["docs_per_s"] = m["docs"] / m["seconds"]
            m["scores"] = {"j08": score(m["removed"], truth, 0.8), "all": score(m["removed"], truth, None)}
            log(f"  {m['seconds']:.1f}s, {m['docs_per_s']:,.0f} docs/s, peak RSS {m['peak_rss_bytes'] / 2**20:,.0f} "
                f"MiB, removed {len(m['removed']):,}; F1 {m['scores']['j08']['f1']:.3f} (J >= 0.8), "
                f"{m['scores']['all']['f1']:.3f} (all)")
            runs[tool].append(m)
    results = {tool: median_run(ms) for tool, ms in runs.items()}

    determinism = None
    if args.determinism:
        removed = {}
        for w in (1, 2):
            if "thresher" in results and args.workers == w:
                removed[w] = results["thresher"]["removed"]
                continue
            log(f"determinism: thresher with {w} worker(s)")
            removed[w] = run_thresher(corpus, args.out / f"thresher-w{w}", w)["removed"]
        a, b = set(removed[1]), set(removed[2])
        determinism = {"identical": sorted(removed[1]) == sorted(removed[2]), "removed_w1": len(removed[1]),
                       "removed_w2": len(removed[2]), "only_w1": len(a - b), "only_w2": len(b - a)}

    docs = next(iter(results.values()))["docs"] if results else 0
    ts = truth_summary(truth)
    lines = [
        f"Fuzzy dedup on `{args.corpus}`: {docs:,} documents, {ts['injected']:,} injected duplicates of "
        f"{ts['originals']:,} originals ({ts['jaccard_ge_0.8']:,} with true Jaccard >= 0.8); threshold 0.8, "
        f"128 permutations; {args.workers} workers for thresher and datatrove, one process for rensa and datasketch.",
        "",
        table(results) if results else "(no tools run)",
        "",
        f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; machine: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average at the "
        f"end: {loadavg():.2f}.",
        f"Command: `{command}`",
    ]
    if args.repeat > 1:
        lines.insert(3, rounds_line(results) + f" The table shows each tool's run of median wall time of "
                     f"{args.repeat}.")
        lines.insert(4, "")
    if determinism is not None:
        d = determinism
        lines.append(f"Determinism: thresher's removed ids with 1 and 2 workers are "
                     f"{'identical' if d['identical'] else 'DIFFERENT'} ({d['removed_w1']:,} vs {d['removed_w2']:,}; "
                     f"{d['only_w1']} only with 1 worker, {d['only_w2']} only with 2).")
    text = "\n".join(lines)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    summary = {"command": command, "corpus": str(args.corpus), "docs": docs, "truth": ts, "determinism": determinism,
               "tools": {t: {k: v for k, v in r.items() if k != "removed"} | {"removed": len(r["removed"])}
                         for t, r in results.items()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
