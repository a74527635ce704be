"""The ``thresher`` command line.

Exit codes: 0 success, 1 unexpected error, 2 bad recipe or usage (an output path that cannot be
written included), 3 bad input data, 4 the plan does not fit the machine (or the disk filled
up), 5 missing optional dependency, 6 audit invariant failed, 7 output directory or record not
found, 8 the output directory is in use by another run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ._version import __version__
from .errors import ThresherError, from_os_error
from .exec.lifeline import interrupts_remembered

__all__ = ["main"]

EPILOG = """exit codes: 0 ok, 1 unexpected error, 2 bad recipe or usage, 3 bad input data,
4 plan does not fit the machine (or the disk filled up), 5 missing optional dependency,
6 audit failed, 7 not found, 8 the output directory is in use by another run, 130 interrupted

examples:
  thresher run examples/default.yaml            run (resuming what is already done)
  thresher run examples/default.yaml --fresh    start over
  thresher plan examples/default.yaml           stages, memory and disk estimate
  thresher ops gopher_quality                   one op's parameters
  thresher explain out/default 'fortunes-es/es/refranes.fortunes#2358'  why a record was removed
  thresher inspect out/default                  counts by step and reason, examples
  thresher report out/default                   write report.html and README.md (the card) again
  thresher dedup-eval out/default truth.jsonl   precision/recall of the dedup against known duplicates
  thresher eval out/default --label source      did curation help? curated vs random subsets vs all
  thresher quality train --positive good.jsonl --negative web.jsonl --model q.pkl --out out/q
  thresher quality apply q.pkl data.jsonl --keep-above 0.5 --out out/scored"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thresher", description="Curate a dataset with a YAML recipe: filter, deduplicate, document.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"thresher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="run a recipe (resumes by default)", description="Run a recipe. Stages "
                       "already computed with the same input and parameters are reused.")
    p.add_argument("recipe", type=Path, help="the recipe YAML file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", dest="fresh", action="store_false", default=False,
                       help="reuse finished stages and shards (default)")
    group.add_argument("--fresh", dest="fresh", action="store_true", help="discard previous work and start over")
    p.add_argument("--workers", type=_positive_int, metavar="N", help="worker processes (default: the recipe's)")
    p.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress bars")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON instead of the summary")

    p = sub.add_parser("plan", help="show stages and estimated memory/disk; refuse if it would not fit")
    p.add_argument("recipe", type=Path)
    p.add_argument("--workers", type=_positive_int, metavar="N")

    p = sub.add_parser("ops", help="list every op, or show one op's parameters")
    p.add_argument("name", nargs="?", help="an op name")

    p = sub.add_parser("explain", help="the lineage of one record: each step it passed or failed")
    p.add_argument("output", type=Path, help="the output directory of a run")
    p.add_argument("id", help="the record id")

    p = sub.add_parser("report", help="write report.html and README.md (the dataset card) of a finished run again")
    p.add_argument("output", type=Path, help="the output directory of a run")

    p = sub.add_parser("inspect", help="counts by step and reason, with a few examples")
    p.add_argument("output", type=Path)
    p.add_argument("--examples", type=int, default=2, metavar="N", help="examples per reason (default 2)")

    p = sub.add_parser("dedup-eval", help="precision, recall and F1 of a run's dedup against known duplicates",
                       description="Score the records a run's dedup steps removed against ground truth: a JSONL "
                       "file of pairs {\"id\", \"dup_of\", optional \"jaccard\"} or clusters {\"cluster\": [...]}.")
    p.add_argument("output", type=Path, help="the output directory of a run")
    p.add_argument("truth", type=Path, help="the truth JSONL file")
    p.add_argument("--min-jaccard", type=float, metavar="J", default=None,
                   help="also score counting only pairs with jaccard >= J (default: 0.8 when the truth has jaccard)")
    p.add_argument("--step", action="append", metavar="NAME", help="score these steps (default: every dedup step)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")

    p = sub.add_parser("eval", help="did curation help? train a proxy model on the curated set, random subsets "
                       "of its size and the full input; score on a held-out test set",
                       description="Train logistic regression (on embeddings or TF-IDF) on the kept records, on "
                       "random subsets of the input of the same size and on the whole input, and score each on a "
                       "held-out test set. The result goes into the run's manifest, report and card.")
    p.add_argument("output", type=Path, help="the output directory of a run")
    p.add_argument("--label", required=True, help="the label column")
    p.add_argument("--test", type=Path, help="a test file with the same label column (default: a split of the input)")
    p.add_argument("--split", type=float, default=0.2, help="share of the input held out as test set (default 0.2)")
    p.add_argument("--test-scope", choices=("input", "kept"), default="input",
                   help="score on every held-out record, or only on those the curation kept")
    p.add_argument("--features", choices=("embedding", "tfidf"), default="embedding")
    p.add_argument("--model", default="minilm", help="encoder for --features embedding (default minilm)")
    p.add_argument("--seeds", type=_positive_int, default=5, help="random subsets (default 5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    from .quality_cli import add_parser as add_quality

    add_quality(sub)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        with interrupts_remembered():
            return _COMMANDS[args.command](args)
    except ThresherError as exc:
        return _fail(exc)
    except OSError as exc:  # what the machine refused: disk full, read-only, permission
        clear = from_os_error(exc)
        if clear is None:
            raise
        return _fail(clear)
    except KeyboardInterrupt:
        print("thresher: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


def _fail(exc: ThresherError) -> int:
    print(f"thresher: error: {exc}", file=sys.stderr)
    return exc.exit_code


def _run(args) -> int:
    from .runner import run

    result = run(args.recipe, workers=args.workers, fresh=args.fresh, progress=args.progress)
    print(json.dumps(result.manifest, indent=1) if args.json else result.summary())
    return 0


def _plan(args) -> int:
    from .exec.plan import check_fits, make_plan
    from .recipe import Recipe

    plan = make_plan(Recipe.from_yaml(args.recipe), workers=args.workers)
    print(plan.describe())
    check_fits(plan)
    print("fits: yes")
    return 0


def _ops(args) -> int:
    from .report.opdoc import describe_op, list_ops

    print(describe_op(args.name) if args.name else list_ops())
    return 0


def _explain(args) -> int:
    from .report.lineage import explain

    print(explain(args.output, args.id))
    return 0


def _report(args) -> int:
    from .exec.outdir import OutputLock
    from .manifest import load_manifest
    from .runner import write_documents

    manifest = load_manifest(args.output)
    with OutputLock(args.output):
        write_documents(args.output, manifest)
    print(f"report: {args.output / 'report.html'}\ncard:   {args.output / 'README.md'}")
    return 0


def _inspect(args) -> int:
    from .report.lineage import inspect_output

    print(inspect_output(args.output, examples=args.examples))
    return 0


def _dedup_eval(args) -> int:
    from .dedup_eval import format_scores, load_truth, removed_ids, score

    truth = load_truth(args.truth)
    removed = removed_ids(args.output, args.step)
    rows = {"all duplicates": score(removed, truth)}
    min_jaccard = args.min_jaccard
    if min_jaccard is None and any("jaccard" in row for row in truth):
        min_jaccard = 0.8
    if min_jaccard is not None:
        rows[f"jaccard >= {min_jaccard:g}"] = score(removed, truth, min_jaccard)
    if args.json:
        print(json.dumps({label: s.to_dict() for label, s in rows.items()}, indent=1))
    else:
        print(f"{len(removed):,} records removed by dedup steps; {len(truth):,} truth rows")
        print(format_scores(rows))
    return 0


def _eval(args) -> int:
    from .evaluation import EvalConfig, eval_line, eval_table, evaluate
    from .exec.outdir import OutputLock
    from .manifest import load_manifest, write_manifest
    from .runner import write_documents

    manifest = load_manifest(args.output)
    config = EvalConfig.from_dict({"label": args.label, "test": str(args.test) if args.test else None,
                                   "split": args.split, "test_scope": args.test_scope, "features": args.features,
                                   "model": args.model, "seeds": args.seeds}, Path.cwd())
    with OutputLock(args.output):
        result = evaluate(args.output, config, manifest["seed"])
        manifest["eval"] = result
        write_manifest(args.output, manifest)
        write_documents(args.output, manifest)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        head = ("training set", "records", "accuracy", "macro-F1", "worst-class recall")
        rows = [head] + eval_table(result)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows))
        print(eval_line(result))
    return 0


def _quality(args) -> int:
    from . import quality_cli
    from .manifest import step_info

    result = (quality_cli.train if args.quality_command == "train" else quality_cli.apply)(args)
    print(result.summary())
    print("quality_classifier: " + ", ".join(f"{k} {v}" for k, v in step_info(result.manifest,
                                                                              "quality_classifier").items()))
    return 0


_COMMANDS = {"run": _run, "plan": _plan, "ops": _ops, "explain": _explain, "report": _report, "inspect": _inspect,
             "dedup-eval": _dedup_eval, "eval": _eval, "quality": _quality}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
