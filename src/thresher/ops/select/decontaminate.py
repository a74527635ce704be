"""``decontaminate``: remove or flag records that share word n-grams with evaluation data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import RecipeError
from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import set_columns
from ..registry import register_op
from .eval_index import EvalIndex, IndexSpec, load_index
from .overlap import Overlaps, find_overlaps

__all__ = ["Decontaminate", "RULE"]

RULE = "eval contamination"
COLUMNS = (("th_contaminated", pa.bool_()), ("th_decontam_matches", pa.int32()), ("th_decontam_ratio", pa.float32()),
           ("th_decontam_eval_id", pa.string()), ("th_decontam_eval_file", pa.string()),
           ("th_decontam_start", pa.int64()), ("th_decontam_end", pa.int64()), ("th_decontam_span", pa.string()))


@register_op("decontaminate")
class Decontaminate(RowOp):
    """Remove (or flag) records that overlap evaluation data, by word n-grams.

    The test of GPT-3 (Brown et al. 2020, App. C): a record is contaminated when it shares a
    13-gram with an eval item, a gram being a lowercased word without punctuation; the
    lm-evaluation-harness ``decontamination/janitor.py`` does the same (13-grams, case and
    punctuation ignored). Texts here are normalized as ``dedup_minhash`` normalizes its word
    shingles: NFKC, lowercase, every character but letters and digits (any script) a separator.

    ``eval`` lists one or more files of eval items (JSONL, Parquet, CSV, Arrow, HF dataset
    folders, read with thresher's readers): the text is ``eval_text_field``, the item id the
    ``eval_id_field`` column (default: ``id`` when present, else ``file:line``). Every
    ``n``-gram of every item is hashed to 64 bits (in one compiled pass, as ``dedup_minhash``
    hashes its shingles) and kept in a sorted array, built once for all workers and runs
    (saved under ``executor.cache_dir/eval-index``, where every worker memory-maps it; rebuilt
    when an eval file changes); a record's n-grams are looked up in a bitmap of the hashes'
    top bits, then the few that pass with ``np.searchsorted``. A record is contaminated when it holds at least
    ``min_matches`` distinct eval n-grams and, when ``min_ratio`` is set, when at least that
    share of its own n-grams are eval n-grams (a ratio test in the spirit of PaLM's,
    Chowdhery et al. 2022, Sec. 8, which counts 70% of an eval example's 8-grams; here the
    share is of the record's, so that a long document quoting one line can be kept).

    Every record with a match gets a report: ``th_decontam_matches`` (distinct eval n-grams),
    ``th_decontam_ratio``, the eval item that holds most of its matched n-grams
    (``th_decontam_eval_id``, ``th_decontam_eval_file``; ties: the first in the eval files; an
    n-gram held by over 256 items counts for the first 256) and the longest run of
    consecutive n-grams of that item as character offsets of
    the record's text (``th_decontam_start``, ``th_decontam_end``: ``text[start:end]``, from
    the first word's first character to the last word's last) and that text
    (``th_decontam_span``); ``th_contaminated`` says whether the thresholds were met. With
    ``action: remove`` contaminated records go to removed/ with a reason naming the item and
    the ratio; with ``action: flag`` they stay, and ``filter: {expr: "not th_contaminated"}``
    can drop them later.

    Departures from GPT-3: the whole record is removed or flagged (GPT-3 cut the matched
    13-gram and 200 characters around it, dropped pieces under 200 characters and documents
    cut into more than 10), and 13-grams frequent in the training data are not exempted
    (GPT-3 ignored those matching more than 10 training documents; a recipe can do so by
    raising ``min_matches``). Eval items shorter than ``n`` words contribute no n-gram. In
    languages written without spaces (Chinese, Japanese) a word is a whole run of letters, so
    ``n``-grams are far longer than 13 words: use another method there.

    Examples
    --------
    >>> import tempfile, json, pyarrow as pa
    >>> path = tempfile.mkdtemp() + "/eval.jsonl"
    >>> with open(path, "w") as f:
    ...     _ = f.write(json.dumps({"id": "q1", "text": "What is the capital of France? Paris is."}) + "\\n")
    >>> op = Decontaminate(eval=[path], n=5)
    >>> b = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": [
    ...     "Quiz: WHAT is the capital of france?! Answer below.", "Lyon is a city."]})
    >>> r = op.process(b, OpContext(step="decontaminate"))
    >>> r.reasons[0]
    "eval contamination: 2 shared 5-grams (ratio 0.400) with eval item 'q1' (eval.jsonl), chars 6-35"
    >>> r.batch.column("th_decontam_span")[0].as_py(), r.reasons[1]
    ('WHAT is the capital of france', None)
    """

    params = {
        "eval": Param(list, None, "eval files (JSONL, Parquet, CSV, Arrow), relative to the recipe", item=str,
                      extra={"path": True}),
        "eval_text_field": Param(str, "text", "the eval items' text field"),
        "eval_id_field": Param(str, None, "the eval items' id field (null: `id` if present, else file:line)",
                               nullable=True),
        "n": Param(int, 13, "words per n-gram (GPT-3, Brown et al. 2020, App. C: 13)", low=1),
        "min_matches": Param(int, 1, "distinct eval n-grams a contaminated record holds at least", low=1),
        "min_ratio": Param(float, None, "also require this share of the record's n-grams to be eval n-grams",
                           low=0, high=1, low_open=True, nullable=True),
        "action": Param(str, "remove", "remove contaminated records, or only flag them", choices=("remove", "flag")),
    }
    writes = tuple(name for name, _ in COLUMNS)

    def validate(self) -> None:
        if not self.eval:
            raise RecipeError(f"{self.name}.eval is required: a list of eval files (JSONL, Parquet, CSV or Arrow), "
                              "e.g. eval: [evals/mmlu_test.jsonl].")
        for path in self.eval:
            if Path(path).expanduser().is_absolute():
                self._spec().check_files()

    def resolve_paths(self, base_dir: Path) -> None:
        super().resolve_paths(base_dir)
        self._spec().check_files()

    def input_files(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.eval]

    def _spec(self, step: str | None = None) -> IndexSpec:
        return IndexSpec(tuple(str(p) for p in self.input_files()), self.n, self.eval_text_field, self.eval_id_field,
                         owner=f"{step or self.name}.eval")

    def index(self, ctx: OpContext) -> EvalIndex:
        """The eval n-gram index (built or loaded once per process)."""
        return load_index(self._spec(ctx.step), ctx.cache_dir)

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        index = self.index(ctx)
        found = find_overlaps(batch.column("text"), index)
        hit = self._contaminated(found)
        batch = set_columns(batch, _columns(found, hit, index))
        if self.action == "flag":
            return RowResult(batch)
        return RowResult(batch, [self._reason(found, i, index) if h else None for i, h in enumerate(hit.tolist())])

    def _contaminated(self, found: Overlaps) -> np.ndarray:
        hit = found.matches >= self.min_matches
        if self.min_ratio is not None:
            hit &= found.ratio >= self.min_ratio
        return hit

    def _reason(self, found: Overlaps, i: int, index: EvalIndex) -> str:
        item = int(found.item[i])
        where = f"chars {found.start[i]}-{found.end[i]}" if found.start[i] >= 0 else "span not located"
        return reason(RULE, f"{found.matches[i]} shared {index.n}-grams (ratio {found.ratio[i]:.3f}) with eval item "
                            f"{index.ids[item].as_py()!r} ({index.files[index.file_of[item]]}), {where}")


def _columns(found: Overlaps, hit: np.ndarray, index: EvalIndex) -> dict[str, pa.Array]:
    has = pa.array(found.item >= 0)
    item = pa.array(np.maximum(found.item, 0))
    file_of = pa.array(np.asarray(index.file_of, np.int64)).take(item)
    none = pa.scalar(None, pa.string())
    located = found.start < 0
    return {
        "th_contaminated": pa.array(hit, pa.bool_()),
        "th_decontam_matches": pa.array(found.matches, pa.int32()),
        "th_decontam_ratio": pa.array(found.ratio, pa.float32()),
        "th_decontam_eval_id": pc.if_else(has, index.ids.take(item), none),
        "th_decontam_eval_file": pc.if_else(has, pa.array(index.files, pa.string()).take(file_of), none),
        "th_decontam_start": pa.array(found.start, pa.int64(), mask=located),
        "th_decontam_end": pa.array(found.end, pa.int64(), mask=located),
        "th_decontam_span": pa.array(found.span, pa.string()),
    }
