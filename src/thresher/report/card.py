"""``README.md``: a dataset card after Datasheets for Datasets (Gebru et al. 2021) and Data Cards
(Pushkarna et al. 2022): sources and their fingerprints, licenses and provenance columns, every
step with its parameters and effect, counts, languages and classes, the evaluation, known
limitations, how to reproduce.

Its YAML front matter is the ``configs:`` header of Hugging Face Hub datasets, so that the output
directory loads as it stands (``datasets.load_dataset("out")``: the kept records; the config
``removed``: the removed ones, with their reasons) and can be pushed to a hub unchanged; the
work files under ``_work/`` are in no config."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import yaml

from ..io.output import output_parts, read_output_file
from ..io.writers import OUTPUT_SUFFIX
from .stats import LANGUAGE_COLUMN, eval_label, output_distributions
from .summary import removed_rows

#: Input files listed by name in the card's sources.
_LISTED_FILES = 20

__all__ = ["write_card", "render_card", "CARD", "hub_configs"]

#: The card's file name in the output directory (the name the Hub reads its configs from).
CARD = "README.md"


def write_card(out: Path, manifest: dict, stats: dict | None = None) -> Path:
    """``stats``: ``output_distributions(out, manifest)`` when the caller has it already."""
    path = Path(out) / CARD
    path.write_text(render_card(manifest, out, stats), encoding="utf-8")
    return path


def hub_configs(manifest: dict) -> list[dict]:
    """The ``configs:`` of the card's front matter: ``kept`` (the default) and, when any record
    was removed, ``removed``; one ``train`` split each, the published files of the output format."""
    suffix = OUTPUT_SUFFIX[_format(manifest)]
    return [{"config_name": name, "data_files": [{"split": "train", "path": f"{name}/part-*{suffix}"}],
             **({"default": True} if name == "kept" else {})} for name in _configs(manifest)]


def _format(manifest: dict) -> str:
    return manifest["recipe"]["output"].get("format", "parquet")


def _configs(manifest: dict) -> list[str]:
    return ["kept", "removed"] if manifest["counts"]["removed"] else ["kept"]


def hub_features(out: Path, where: str) -> list[dict] | None:
    """The Hub's ``features`` of ``out/<where>``'s JSONL files: their schemas unified, so that a
    column null throughout one file is not read as a clash with the next (Parquet files carry
    their schema). None when a column's type has no plain Hub spelling: the loader infers it."""
    schemas = [read_output_file(p).schema for p in output_parts(out, where)]
    if not schemas:
        return None
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    features = [_hub_type(f.type) for f in schema]
    if any(f is None for f in features):
        return None
    return [{"name": name, **feature} for name, feature in zip(schema.names, features)]


def _hub_type(kind: pa.DataType) -> dict | None:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _hub_type(kind.value_type)
        return {"list": inner.get("dtype", inner)} if inner else None
    name = {"double": "float64", "float": "float32", "halffloat": "float16"}.get(str(kind), str(kind))
    plain = ("null", "bool", "string", "large_string", "float16", "float32", "float64")
    return {"dtype": name} if name in plain or re.fullmatch(r"u?int(8|16|32|64)", name) else None


def _front_matter(manifest: dict, out: Path | None) -> list[str]:
    header: dict = {"configs": hub_configs(manifest)}
    if out is not None and _format(manifest) != "parquet":
        info = [{"config_name": name, "features": hub_features(Path(out), name)} for name in _configs(manifest)]
        if all(i["features"] for i in info):
            header["dataset_info"] = info
    header["tags"] = ["thresher"]
    return ["---", yaml.safe_dump(header, sort_keys=False).rstrip(), "---", ""]


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _load_hint(manifest: dict) -> str:
    hint = "Load it with Hugging Face `datasets`: `load_dataset(\"<this directory>\")` gives the kept records"
    return hint + (", `load_dataset(\"<this directory>\", \"removed\")` the removed ones."
                   if manifest["counts"]["removed"] else ".")


def render_card(manifest: dict, out: Path | None = None, stats: dict | None = None) -> str:
    c = manifest["counts"]
    result = manifest.get("eval")
    label = eval_label(manifest)
    if stats is None:
        stats = output_distributions(Path(out), manifest) if out else {}
    lines = _front_matter(manifest, out) + ["# Dataset card", "",
             f"Curated with thresher {manifest['thresher_version']} (seed {manifest['seed']}): "
             f"{c['kept']:,} of {c['input']:,} input records kept, {c['removed']:,} removed "
             "(every removed record is in `removed/` with the step and the reason).", "",
             _load_hint(manifest), "",
             "## Sources", "", "| file | bytes | xxh3-128 |", "|---|---:|---|"]
    inputs = manifest["inputs"]
    lines += [f"| {_md(f['path'])} | {f['bytes']:,} | {f.get('xxh3', '')} |" for f in inputs[:_LISTED_FILES]]
    if len(inputs) > _LISTED_FILES:  # an image folder: thousands of files (all in manifest.json)
        rest = inputs[_LISTED_FILES:]
        lines.append(f"| ({len(rest):,} more files, listed in manifest.json) | {sum(f['bytes'] for f in rest):,} | |")
    lines += ["", f"Output fingerprint (input files, steps, parameters, seed, version): "
              f"`{manifest.get('final_fingerprint', '?')}`."]
    for column, d in stats.items():
        title = {LANGUAGE_COLUMN: "Languages (fastText lid.176)"}.get(column, f"`{column}`")
        if column == label:
            title = f"Classes (`{column}`)"
        elif column != LANGUAGE_COLUMN and len(d["before"]) > 50:  # an id-like column: too many to list
            lines += ["", f"## Provenance: `{column}`", "", f"{len(d['before']):,} distinct values in the input, "
                      f"{len(d['after']):,} among the kept records."]
            continue
        elif column != LANGUAGE_COLUMN:
            title = f"Provenance: `{column}`"
        lines += ["", f"## {title}", "", "| value | input | kept |", "|---|---:|---:|"]
        lines += [f"| {_md(k)} | {n:,} | {d['after'].get(k, 0):,} |" for k, n in list(d["before"].items())[:15]]
        if len(d["before"]) > 15:
            lines.append(f"| ({len(d['before']) - 15:,} more) | | |")
    lines += ["", "## Steps", "", "| step | parameters | in | out |", "|---|---|---:|---:|"]
    for step in manifest["steps"]:
        cfg = ", ".join(f"{k}={v}" for k, v in step.get("params", {}).items() if v is not None)
        lines.append(f"| {_md(step['step'])} | {_md(cfg)} | {step['in']:,} | {step['out']:,} |")
    lines += ["", "## Removed, by step and reason", "", "| step | reason | records |", "|---|---|---:|"]
    lines += [f"| {_md(s)} | {_md(r)} | {n:,} |" for s, r, n in removed_rows(manifest)]
    if result:
        from ..evaluation import eval_line, eval_table

        lines += ["", "## Evaluation", "", eval_line(result).removeprefix("eval: ").capitalize() + ".", "",
                  "| training set | records | accuracy | macro-F1 | worst-class recall |", "|---|---:|---:|---:|---:|"]
        lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in eval_table(result)]
    lines += ["", "## Known limitations", ""] + [f"- {x}" for x in _limitations(manifest, stats, label)]
    lines += ["", "## How to reproduce", "", "Run `thresher run recipe.yaml` with this recipe (paths resolved):", "",
              "```yaml", yaml.safe_dump(manifest["recipe"], sort_keys=False).rstrip(), "```", "",
              f"thresher {manifest['thresher_version']}, Python {manifest['python']}, "
              f"pyarrow {manifest['pyarrow']}.", ""]
    return "\n".join(lines)


def _limitations(manifest: dict, stats: dict, label: str | None) -> list[str]:
    ops = {s.get("op") for s in manifest["steps"]}
    notes = ["Heuristic filters encode the thresholds of the papers they cite; they were tuned on web text "
             "and can remove good technical or non-English documents. Check `removed/` per reason."]
    if not ops & {"dedup_minhash", "dedup_semantic"}:
        notes.append("Only exact duplicates are removed: no fuzzy or semantic dedup step ran.")
    for step in manifest["steps"]:
        chained = (step.get("info") or {}).get("removed_below_threshold")
        if chained:
            records = f"{chained:,} record{'s' if chained != 1 else ''}"
            notes.append(f"`{step['step']}` removed {records} whose estimated Jaccard similarity to the "
                         "kept record (`score`) is below its threshold: they joined a cluster through a chain of "
                         "near-duplicates (`linkage: verified` keeps them).")
    langs = stats.get(LANGUAGE_COLUMN, {}).get("after", {})
    if langs and len(langs) <= 2:
        notes.append(f"The kept records are in {', '.join(langs)} only; other languages were removed.")
    if label and label in stats:
        lost = [k for k in stats[label]["before"] if not stats[label]["after"].get(k)]
        if lost:
            notes.append(f"Classes of `{label}` with no kept record: {', '.join(map(str, lost[:10]))}.")
    result = manifest.get("eval")
    if result and not result["helped"]:
        notes.append("The evaluation found no gain over random subsets of the same size; see above.")
    return notes
