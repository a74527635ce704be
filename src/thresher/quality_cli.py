"""``thresher quality train|apply``: the quality classifier op from the command line, as a
one- or two-step recipe (embed, then quality_classifier) run like any other."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .errors import RecipeError

__all__ = ["add_parser", "train", "apply"]


def add_parser(sub) -> None:
    p = sub.add_parser("quality", help="train a quality classifier from examples, or apply one",
                       description="Train: from a labelled file (--label COLUMN: true/false, 1/0 or a 0-5 score) "
                       "or from --positive and --negative files. Apply: score records and keep those above a "
                       "threshold. Both run a recipe, so the output has kept/, removed/, a report and a card.")
    qs = p.add_subparsers(dest="quality_command", metavar="train|apply", required=True)
    t = qs.add_parser("train", help="train and save a classifier")
    t.add_argument("data", nargs="*", type=Path, help="labelled input files (with --label)")
    t.add_argument("--label", help="the label column of DATA")
    t.add_argument("--positive", nargs="+", type=Path, default=[], help="files of good examples")
    t.add_argument("--negative", nargs="+", type=Path, default=[], help="files of bad examples")
    t.add_argument("--model", type=Path, required=True, help="where to save the classifier")
    t.add_argument("--out", type=Path, required=True, help="output directory of the training run")
    t.add_argument("--target", choices=("binary", "score"), default="binary")
    _common(t)
    a = qs.add_parser("apply", help="score records with a saved classifier")
    a.add_argument("model", type=Path, help="the saved classifier")
    a.add_argument("data", nargs="+", type=Path, help="input files")
    a.add_argument("--out", type=Path, required=True, help="output directory")
    a.add_argument("--keep-above", type=float, default=None, help="remove records scoring below this")
    _common(a)


def _common(p) -> None:
    p.add_argument("--features", choices=("embedding", "tfidf"), default="embedding")
    p.add_argument("--encoder", default="static", help="embed model when --features embedding (default: static)")
    p.add_argument("--text-field", default="text")


def _recipe(inputs: list[Path], out: Path, args, step: dict) -> dict:
    steps = ([{"embed": {"model": args.encoder}}] if args.features == "embedding" else []) + [step]
    return {"input": {"path": [str(p.resolve()) for p in inputs], "text_field": args.text_field},
            "output": {"path": str(out.resolve())}, "steps": steps}


def _examples(args, work: Path) -> Path:
    """One JSONL of the positive and negative files' records with a ``label`` of 1 or 0."""
    from .io.files import list_input_files
    from .io.readers import ReadOptions, read_batches

    path = work / "examples.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for files, label in ((args.positive, 1), (args.negative, 0)):
            for f in list_input_files([str(p) for p in files], Path.cwd()):
                for batch, _ in read_batches(f, f.name, ReadOptions(text_field=args.text_field)):
                    if batch is None:
                        continue
                    for rid, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                        out.write(json.dumps({"id": f"{'pos' if label else 'neg'}/{rid}", "text": text,
                                              "label": label}, ensure_ascii=False) + "\n")
    return path


def train(args):
    from .runner import run

    if bool(args.label) == bool(args.positive or args.negative):
        raise RecipeError("quality train: give DATA with --label COLUMN, or --positive and --negative files.")
    if not args.label and not (args.positive and args.negative):
        raise RecipeError("quality train: --positive and --negative are both needed.")
    work = Path(tempfile.mkdtemp(prefix="thresher-quality-"))
    inputs = args.data if args.label else [_examples(args, work)]
    step = {"quality_classifier": {"model": str(args.model.resolve()), "label": args.label or "label",
                                   "target": args.target, "features": args.features}}
    return run(_recipe_obj(_recipe(inputs, args.out, args, step)), fresh=True)


def apply(args):
    from .runner import run

    step = {"quality_classifier": {"model": str(args.model.resolve()), "features": args.features,
                                   "keep_above": args.keep_above}}
    return run(_recipe_obj(_recipe(args.data, args.out, args, step)), fresh=True)


def _recipe_obj(data: dict):
    from .recipe import Recipe

    return Recipe.from_dict(data)
