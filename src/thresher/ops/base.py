"""Base classes of ops: row-local ops transform one batch; global ops fit, decide, then apply.

An op never counts anything itself: it returns, per row, ``None`` (kept) or a reason string
``"<rule>: <detail>"``; the executor turns those into removed records and per-rule counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..params import Param, validate_params
from ..paths import default_cache_dir
from .columns import set_columns

__all__ = ["Op", "RowOp", "GlobalOp", "OpContext", "RowResult", "KeyParts", "reason", "COLUMN_PREFIX"]

#: Computed columns start with this prefix so that they never collide with user columns.
COLUMN_PREFIX = "th_"


def reason(rule: str, detail: str = "") -> str:
    """Format a removal reason; the part before ``": "`` is the rule that reports count."""
    return f"{rule}: {detail}" if detail else rule


@dataclass
class OpContext:
    """What an op may know about the run: the seed, its step name, a scratch dir."""

    seed: int = 0
    step: str = ""
    work_dir: Path | None = None
    workers: int = 1
    #: For a global op's ``decide``: the stage's input shards, in order, should it need a second
    #: look at a few records (e.g. the rare candidates that its compact keys flagged).
    sources: tuple[Path, ...] = ()
    #: Where embeddings and built models are cached across runs: the executors pass the
    #: recipe's ``executor.cache_dir``; a context made by hand gets the same default as a recipe.
    cache_dir: Path = field(default_factory=default_cache_dir)
    #: What ``decide`` wants recorded in the stage's stats and the manifest (counts, sweeps...).
    info: dict = field(default_factory=dict)
    #: The executor's parallel map for ``decide`` (``mapper(fn, items)``); None: run here.
    mapper: Callable[[Callable, list], list] | None = None
    #: True when ``mapper`` runs on a cluster's workers: ``decide`` then hands its heavy parts
    #: to them (``map``) instead of holding every record's working set on the driver.
    distributed: bool = False
    #: Whether the run shows progress bars (the executor's choice): a long ``decide`` shows its own.
    progress: bool = False

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list:
        """``[fn(item) for item in items]``, run by the executor's workers when it has a
        ``mapper``, here otherwise. ``fn`` must be a module-level function and items and
        results picklable and small: bulk data goes through files in ``work_dir``."""
        items = list(items)
        if self.mapper is None or len(items) < 2:
            return [fn(item) for item in items]
        return self.mapper(fn, items)


@dataclass
class RowResult:
    """The output of a row op on one batch.

    ``batch`` holds every input row (with new or changed columns); ``reasons`` has one entry per
    row, ``None`` for kept rows, or is ``None`` when every row is kept; ``extras`` are columns
    added to removed rows only (e.g. ``dup_of``).
    """

    batch: pa.RecordBatch
    reasons: Sequence[str | None] | pa.Array | None = None
    extras: dict[str, pa.Array] = field(default_factory=dict)


class KeyParts:
    """A global op's keys, one part per shard in shard order (tables, or Arrow IPC or Parquet
    files), read on demand: an op may read
    them whole (``read``) or stream them part by part (``iter``) to bound its memory.

    Examples
    --------
    >>> parts = KeyParts.of(pa.table({"id": ["a", "b", "c"]}))
    >>> parts.num_rows, parts.take(np.array([2, 0]), ["id"]).column("id").to_pylist()
    (3, ['c', 'a'])
    """

    def __init__(self, parts: Sequence[Path | pa.Table]) -> None:
        self.parts = list(parts)
        self.sizes = [_rows(p) for p in self.parts]
        self.num_rows = sum(self.sizes)

    @classmethod
    def of(cls, keys: "KeyParts | pa.Table") -> "KeyParts":
        return keys if isinstance(keys, KeyParts) else cls([keys])

    def _load(self, part: Path | pa.Table, columns: list[str] | None) -> pa.Table:
        if isinstance(part, Path) and part.suffix == ".arrow":  # memory-mapped: unread columns cost nothing
            with pa.memory_map(str(part)) as source:
                part = pa.ipc.open_file(source).read_all()
        if isinstance(part, pa.Table):
            return part.select(columns) if columns else part
        return pq.read_table(part, columns=columns)

    def iter(self, columns: list[str] | None = None) -> Iterator[tuple[int, pa.Table]]:
        """``(offset, table)`` per part: the row index of its first row, and its rows."""
        offset = 0
        for part, size in zip(self.parts, self.sizes):
            yield offset, self._load(part, columns)
            offset += size

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """Every part, concatenated."""
        tables = [t for _, t in self.iter(columns)]
        if not tables:
            return pa.table({"id": pa.array([], pa.string())})
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def read_by_id(self, columns: list[str] | None = None) -> pa.Table:
        """Every part, sorted by id: an order, hence results, that do not depend on sharding."""
        table = self.read(columns)
        return table.take(pc.sort_indices(table.column("id"))) if table.num_rows else table

    def take(self, rows: np.ndarray, columns: list[str]) -> pa.Table:
        """The given rows (global indices, any order), reading only the parts that hold them."""
        order = np.argsort(rows, kind="stable")
        ends = np.cumsum(self.sizes)
        taken = []
        for k, (part, size) in enumerate(zip(self.parts, self.sizes)):
            lo, hi = np.searchsorted(rows[order], [ends[k] - size, ends[k]])
            if hi > lo:
                local = rows[order[lo:hi]] - (ends[k] - size)
                taken.append(self._load(part, columns).take(pa.array(local)))
        table = pa.concat_tables(taken) if taken else self._load(self.parts[0], columns).slice(0, 0)
        return table.take(pa.array(np.argsort(order, kind="stable")))


def _rows(part: Path | pa.Table) -> int:
    if isinstance(part, pa.Table):
        return part.num_rows
    if part.suffix == ".arrow":
        with pa.memory_map(str(part)) as source:
            reader = pa.ipc.open_file(source)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    return pq.read_metadata(part).num_rows


class Op:
    """An op: a registered name, declared parameters, a docstring citing its source."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "row"
    params: ClassVar[dict[str, Param]] = {}
    #: Computed columns this op writes (for lineage and the report).
    writes: ClassVar[tuple[str, ...]] = ()
    #: Score columns worth a histogram in the report, each with the parameters that threshold it.
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **params: Any) -> None:
        self._config = validate_params(self.name, self.params, params)
        for key, value in self._config.items():
            setattr(self, key, value)
        self.validate()

    def threshold_values(self) -> dict[str, list[float] | None]:
        """``{score column: [threshold values that are set]}`` for the report's histograms; None
        where the column has threshold parameters but none is set."""
        values = {column: [getattr(self, p) for p in names if getattr(self, p, None) is not None]
                  for column, names in self.thresholds.items()}
        return {c: v if v or not self.thresholds[c] else None for c, v in values.items()}

    def validate(self) -> None:
        """Cross-parameter checks; raise ``RecipeError`` naming the parameters."""

    def resolve_paths(self, base_dir: Path) -> None:
        """Make the op's file parameters (``Param(..., extra={"path": True})``, a path or a list
        of paths) absolute, relative to ``base_dir`` (the recipe file's directory)."""
        for name, param in self.params.items():
            value = getattr(self, name, None)
            if not param.extra.get("path") or value is None:
                continue
            resolved = [_resolve(v, base_dir) for v in value] if isinstance(value, list) else _resolve(value, base_dir)
            setattr(self, name, resolved)
            self._config[name] = resolved

    def input_files(self) -> list[Path]:
        """Files the op reads besides the records (e.g. an eval set): their content hashes go
        into the stage fingerprint, so that editing one recomputes the step."""
        return []

    def needs(self) -> dict[str, str | None]:
        """The columns this op reads besides ``id`` and ``text``, each with the parameter that
        names it (None: a fixed column, e.g. ``th_embedding_key``). ``thresher plan`` and ``run``
        check, before any work, that the input or an earlier step provides each of them."""
        return {}

    def columns_named(self, columns: Iterable[str]) -> dict[str, str | None]:
        """``{column: the parameter naming it}`` for ``needs``: the parameter whose value is the
        column, else one whose expression (``where``, ``expr``...) reads it, else None."""
        from .expressions import expression_columns

        def param_of(column: str) -> str | None:
            values = {name: getattr(self, name, None) for name in self.params}
            exact = next((n for n, v in values.items() if v == column), None)
            return exact or next((n for n, v in values.items() if isinstance(v, str) and _reads(v, column)), None)

        def _reads(expr: str, column: str) -> bool:
            try:
                return column in expression_columns(expr)
            except SyntaxError:
                return False

        return {c: param_of(c) for c in dict.fromkeys(columns) if c not in ("id", "text")}

    def config(self) -> dict[str, Any]:
        """The resolved parameters (defaults filled in), as they go into YAML and fingerprints."""
        return dict(self._config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash((self.name, repr(sorted(self._config.items()))))

    def __getstate__(self) -> dict:
        # Lazily loaded models and caches (attributes starting with "_cache") are not pickled.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}

    def column(self, suffix: str) -> str:
        """The namespaced name of a computed column, e.g. ``th_language_score``."""
        return f"{COLUMN_PREFIX}{suffix}"


def _resolve(value, base_dir: Path):
    if isinstance(value, str) and not Path(value).expanduser().is_absolute():
        return str((Path(base_dir) / value).resolve())
    return value


class RowOp(Op):
    """A row-local op: sees one batch at a time and keeps no state across batches."""

    kind: ClassVar[str] = "row"

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        raise TypeError(f"{type(self).__name__} must define process()")  # pragma: no cover


class GlobalOp(Op):
    """A global op: ``keys`` per batch (only the columns it needs), ``decide`` over all keys,
    then a streaming ``apply`` that removes the decided ids.

    ``decide`` returns a table with column ``id`` and ``reason`` for removed records, plus any
    removal columns (``dup_of``, ``score``...).
    """

    kind: ClassVar[str] = "global"
    #: True when ``apply`` adds columns to every row (cluster ids, weights...): the executor
    #: then runs it even when nothing is removed.
    annotates: ClassVar[bool] = False

    def holds(self) -> str:
        """What this op holds in memory while deciding (shown by ``thresher plan``)."""
        return "id and key columns per record"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        """Estimated peak memory of ``decide`` over ``records`` records."""
        return records * 200

    def needs(self) -> dict[str, str | None]:
        """By default the columns ``keys`` reads (``key_columns``)."""
        return self.columns_named(self.key_columns() or [])

    #: True when ``keys`` and ``apply`` spend their time where the GIL is released (numba
    #: ``nogil`` kernels, Arrow, numpy): the local executor then runs them on threads of its own
    #: process, so that heavy libraries are loaded (``warm_up``) once instead of in every worker.
    in_threads: ClassVar[bool] = False

    def warm_up(self) -> None:
        """Load what ``keys`` needs (compiled kernels); the local executor calls it on a
        background thread at the start of a run when ``keys`` will run in its process."""

    def key_columns(self) -> list[str] | None:
        """The columns ``keys`` reads (None: all); the others are not even read from disk."""
        return None

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        raise TypeError(f"{type(self).__name__} must define keys()")  # pragma: no cover

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        """Decide over every record's keys (``KeyParts.of(keys)`` to stream them)."""
        raise TypeError(f"{type(self).__name__} must define decide()")  # pragma: no cover

    #: The column that identifies a record in ``decide``'s output.
    match_column: ClassVar[str] = "id"

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table, ctx: OpContext) -> RowResult:
        """Mark the rows listed in ``decisions`` as removed (a null ``reason`` keeps a row), with
        their reason and extras; columns of ``decisions`` named in ``writes`` are set on every
        row (null where a row is not listed)."""
        key = self.match_column
        pos = pc.index_in(batch.column(key), value_set=decisions.column(key))
        written = {name: pc.take(decisions.column(name).combine_chunks(), pos) for name in decisions.column_names
                   if name in self.writes}
        batch = set_columns(batch, written)
        if pos.null_count == len(pos):
            return RowResult(batch)
        reasons = pc.take(decisions.column("reason"), pos)
        extras = {
            name: pc.take(decisions.column(name), pos)
            for name in decisions.column_names
            if name not in ("id", "reason", key) and name not in self.writes
        }
        return RowResult(batch, reasons, extras)
