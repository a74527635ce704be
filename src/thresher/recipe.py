"""Recipes: YAML or Python, validated when built.

A recipe names the input, the output, the executor, a seed and an ordered list of steps; each
step is one op with its parameters (``- gopher_quality: {min_words: 50}`` in YAML).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import RecipeError
from .evaluation import EvalConfig
from .io.declared import check_column_types
from .ops.base import Op
from .ops.registry import build_op
from .params import Param, closest, validate_params
from .paths import default_cache_dir

__all__ = ["Recipe", "Step", "InputConfig", "OutputConfig", "ExecutorConfig", "default_cache_dir"]

INPUT_PARAMS = {
    "path": Param(list, None, "file, directory or glob (or a list of them), relative to the recipe file", item=str),
    "text_field": Param(str, "text", "the input field that holds the text"),
    "id_field": Param(str, None, "the input field that holds a unique id; default: `id` if present, "
                      "else derived from the file path and record number", nullable=True),
    "on_error": Param(str, "raise", "bad records: stop with an error, or set them aside in removed/",
                      choices=("raise", "quarantine")),
    "columns": Param(dict, {}, "Arrow types of input columns, e.g. {year: int64} (CSV values are read as "
                     "strings unless declared; the id and the text are always strings)"),
    "format": Param(str, "auto", "auto: tables (JSONL, Parquet, CSV, Arrow, HF datasets) and WebDataset tars by "
                    "their suffix; images: every image file under path, one record each (id: its path relative "
                    "to the input directory)", choices=("auto", "images")),
    "image_field": Param(str, None, "tables: the field that holds each record's image (a path relative to the "
                         "table's folder, the image's bytes, or an HF Image feature)", nullable=True),
    "label_from": Param(str, None, "format images: `folder` gives each record a `label`, its parent folder's "
                        "name (the ImageFolder layout)", nullable=True, choices=("folder",)),
}
OUTPUT_PARAMS = {
    "path": Param(str, None, "output directory, relative to the recipe file"),
    "format": Param(str, "parquet", "format of kept/ and removed/", choices=("parquet", "jsonl", "jsonl.gz")),
}
EXECUTOR_PARAMS = {
    "kind": Param(str, "local", "where to run: this machine's processes, or a Ray cluster",
                  choices=("local", "ray")),
    "address": Param(str, None, "kind ray: the cluster to join (`auto`, `host:6379`, `ray://host:10001`); "
                     "null starts Ray on this machine with `workers` CPUs", nullable=True),
    "workers": Param(object, "auto", "worker processes: an int >= 1 or 'auto' (= cores)"),
    "shard_rows": Param(object, "auto", "records per shard, an int >= 1 or 'auto' (bounds each worker's "
                        "memory; auto: about 1/16 of the input, between 1,000 and 10,000)"),
    "fuse_row_steps": Param(bool, False, "run consecutive row-local steps in one pass (less disk, "
                            "but editing one of them recomputes the whole group)"),
    "cache_dir": Param(str, None, "where embeddings and built models are cached across runs and recipes, "
                       "relative to the recipe file (default: $THRESHER_CACHE, else ~/.cache/thresher)",
                       nullable=True),
}


@dataclass(frozen=True)
class InputConfig:
    path: list[str]
    text_field: str = "text"
    id_field: str | None = None
    on_error: str = "raise"
    columns: dict = field(default_factory=dict)
    format: str = "auto"
    image_field: str | None = None
    label_from: str | None = None

    @property
    def images(self) -> bool:
        """Whether the records are images (``format: images``, or tables with an ``image_field``)."""
        return self.format == "images" or self.image_field is not None


@dataclass(frozen=True)
class OutputConfig:
    path: str
    format: str = "parquet"


@dataclass(frozen=True)
class ExecutorConfig:
    kind: str = "local"
    address: str | None = None
    workers: int | str = "auto"
    shard_rows: int | str = "auto"
    fuse_row_steps: bool = False
    cache_dir: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of a recipe: its unique name (the op name, ``_2`` etc. when repeated) and op."""

    name: str
    op: Op


@dataclass
class Recipe:
    """A validated recipe. Build it from YAML (``Recipe.from_yaml``), a dict, or in Python:

    >>> from thresher.ops import Length
    >>> r = Recipe(input="data/*.jsonl", output="out", steps=[Length(min_words=5)])
    >>> [s.name for s in r.steps]
    ['length']
    """

    input: InputConfig | dict | str
    output: OutputConfig | dict | str
    steps: list = field(default_factory=list)
    executor: ExecutorConfig | dict = field(default_factory=dict)
    seed: int = 0
    base_dir: Path = field(default_factory=Path.cwd)
    eval: EvalConfig | dict | None = None

    def __post_init__(self) -> None:
        self.input = _section(self.input, InputConfig, INPUT_PARAMS, "input")
        check_column_types(self.input.columns, text_field=self.input.text_field, id_field=self.input.id_field)
        _check_image_input(self.input)
        self.output = _section(self.output, OutputConfig, OUTPUT_PARAMS, "output")
        self.executor = _section(self.executor, ExecutorConfig, EXECUTOR_PARAMS, "executor")
        _check_auto_int("executor.workers", self.executor.workers)
        _check_auto_int("executor.shard_rows", self.executor.shard_rows)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise RecipeError(f"seed must be an int, got {self.seed!r}.")
        self.base_dir = Path(self.base_dir)
        self.steps = _name_steps(self.steps)
        if isinstance(self.eval, dict):
            self.eval = EvalConfig.from_dict(self.eval, self.base_dir)
        elif self.eval is not None and not isinstance(self.eval, EvalConfig):
            raise RecipeError(f"eval must be a mapping like {{label: source}}, got {self.eval!r}.")
        for step in self.steps:
            step.op.resolve_paths(self.base_dir)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "Recipe":
        """Load and validate a YAML recipe; relative paths in it are relative to its directory."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecipeError(f"recipe file {path} does not exist.") from None
        except yaml.YAMLError as exc:
            raise RecipeError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: a recipe must be a mapping with input, output and steps.")
        return cls.from_dict(data, base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, data: dict, base_dir: Path | None = None) -> "Recipe":
        """Build from the dict form of the YAML recipe."""
        allowed = {"input", "output", "executor", "seed", "steps", "eval"}
        for key in data:
            if key not in allowed:
                raise RecipeError(f"unknown recipe section {key!r}.{closest(key, allowed)} "
                                  f"Allowed: {', '.join(sorted(allowed))}.")
        for key in ("input", "output"):
            if key not in data:
                raise RecipeError(f"the recipe has no {key!r} section.")
        steps = data.get("steps") or []
        if not isinstance(steps, list):
            raise RecipeError("steps must be a list of `- op_name: {params}` entries.")
        parsed = [_parse_step(i, s) for i, s in enumerate(steps, 1)]
        return cls(input=data["input"], output=data["output"], steps=parsed,
                   executor=data.get("executor") or {}, seed=data.get("seed", 0), base_dir=base_dir or Path.cwd(),
                   eval=data.get("eval"))

    # --- serialization --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe (all defaults filled in), as YAML would hold it."""
        return {
            "input": dict(vars(self.input)),
            "output": dict(vars(self.output)),
            "executor": dict(vars(self.executor)),
            "seed": self.seed,
            "steps": [{s.op.name: s.op.config()} for s in self.steps],
        } | ({"eval": self.eval.to_dict()} if self.eval else {})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    # --- paths ----------------------------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        return (self.base_dir / self.output.path).resolve()

    @property
    def cache_dir(self) -> Path:
        """``executor.cache_dir``, else ``$THRESHER_CACHE``, else ``~/.cache/thresher``."""
        if self.executor.cache_dir is not None:
            return (self.base_dir / self.executor.cache_dir).resolve()
        return default_cache_dir()


def _section(value: Any, cls: type, declared: dict[str, Param], owner: str):
    if isinstance(value, cls):
        return value
    if isinstance(value, (str, Path)):
        value = {"path": str(value)}
    if not isinstance(value, dict):
        raise RecipeError(f"{owner} must be a mapping or a path, got {value!r}.")
    if owner == "input" and isinstance(value.get("path"), str):
        value = {**value, "path": [value["path"]]}
    resolved = validate_params(owner, declared, value)
    if resolved.get("path", "") is None:
        raise RecipeError(f"{owner}.path is required.")
    return cls(**resolved)


def _check_image_input(config: InputConfig) -> None:
    if config.label_from is not None and config.format != "images":
        raise RecipeError("input.label_from: only for format: images (the label of a table's record is one of "
                          "its columns).")
    if config.image_field is not None and config.format == "images":
        raise RecipeError("input.image_field: only for tables; with format: images every file is an image.")


def _check_auto_int(name: str, value: Any) -> None:
    ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
    if not ok:
        raise RecipeError(f"{name} must be an int >= 1 or 'auto', got {value!r}.")


def _parse_step(index: int, entry: Any) -> Op:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise RecipeError(f"recipe step {index}: expected one `op_name: {{params}}` mapping, got {entry!r}.")
    (name, params), = entry.items()
    try:
        return build_op(name, params if params is not None else {})
    except RecipeError as exc:
        raise RecipeError(f"recipe step {index} ({name}): {exc}") from None


def _name_steps(steps: Iterable[Op | Step]) -> list[Step]:
    named: list[Step] = []
    counts: dict[str, int] = {}
    for i, step in enumerate(steps, 1):
        op = step.op if isinstance(step, Step) else step
        if not isinstance(op, Op):
            raise RecipeError(f"recipe step {i}: expected an op (e.g. thresher.ops.Length()), got {op!r}.")
        counts[op.name] = counts.get(op.name, 0) + 1
        named.append(Step(op.name if counts[op.name] == 1 else f"{op.name}_{counts[op.name]}", op))
    return named
