"""One suite run over every registered op (after scikit-learn's estimator checks)."""

import pickle
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from conftest import PROSE
from thresher import Recipe
from thresher.errors import RecipeError
from thresher.ops import GlobalOp, OpContext, all_ops
from thresher.ops.base import RowResult

# Parameters that ops without usable defaults need in the suite.
REQUIRED = {"filter": {"expr": "len(text) > 10"}, "sample_balanced": {"fraction": 0.5},
            "embed": {"precomputed": "vec"}, "rebalance": {"label": "th_source", "max_per_class": 1},
            "label_issues": {"label": "group", "folds": 2}, "ood_score": {"label": "group", "folds": 2, "knn_k": 3},
            "harvest": {"budget": 4}, "dsir": {"target_expr": "group == 'a'", "fraction": 0.5},
            "difficulty": {"label": "group", "epochs": 2, "seeds": 1, "hidden": 8},
            "quality_classifier": {"model": "/tmp/thresher-conformance-quality.pkl", "label": "good",
                                   "features": "tfidf", "folds": 2},
            "decontaminate": {"eval": [str(Path(__file__).parent / "select" / "data" / "zen.jsonl")]},
            "influence": {"label": "group", "target_where": "good", "ensemble": 2}}
# Ops that read what earlier steps wrote: the suite runs those steps first.
BEFORE = {"difficulty": ["embed"], "label_issues": ["embed"], "ood_score": ["embed"], "harvest": ["embed", "ood_score"],
          "influence": ["embed"], "kmeans": ["embed"], "hierarchical_kmeans": ["embed"], "dedup_semantic": ["embed"],
          "sample_balanced": ["embed", "hierarchical_kmeans"]}
# Ops on images read the columns the image readers write: the suite adds them to its records.
IMAGE_OPS = {"image_quality", "dedup_image"}
OPS = sorted(all_ops())


def _build(name):
    return all_ops()[name](**REQUIRED.get(name, {}))


def _batch(n: int = 12) -> pa.RecordBatch:
    texts = [PROSE[i % len(PROSE)] for i in range(n)]
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("th_source", pa.string()),
                        ("vec", pa.list_(pa.float32())), ("group", pa.string()), ("good", pa.bool_())])
    vectors = [[float((i * 7 + j * 3) % 5) + 0.5 for j in range(8)] for i in range(n)]
    return pa.RecordBatch.from_pydict({"id": [f"r{i:02d}" for i in range(n)], "text": texts,
                                       "th_source": [f"f:{i}" for i in range(n)], "vec": vectors,
                                       "group": ["ab"[i % 2] for i in range(n)],
                                       "good": [i % 3 == 0 for i in range(n)]}, schema=schema)


def _with_image_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    from thresher.image.signals import SIGNAL_SCHEMA, measure

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + 4 * i, 48, 3), dtype=np.uint8) for i in range(batch.num_rows)]
    signals = [measure(a) for a in images]
    columns = {"th_image_width": pa.array([a.shape[1] for a in images], pa.int32()),
               "th_image_height": pa.array([a.shape[0] for a in images], pa.int32()),
               **{f.name: pa.array([s[f.name] for s in signals], f.type) for f in SIGNAL_SCHEMA}}
    for name, values in columns.items():
        batch = batch.append_column(name, values)
    return batch


def _prepared(name: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    if name in IMAGE_OPS:
        batch = _with_image_columns(batch)
    for before in BEFORE.get(name, []):
        batch = _process(_build(before), batch).batch
    return batch


def _process(op, batch: pa.RecordBatch, *, prepare: bool = False) -> RowResult:
    ctx = OpContext(seed=0, step=op.name)
    if prepare:
        batch = _prepared(op.name, batch)
    if isinstance(op, GlobalOp):
        decisions = op.decide(op.keys(batch, ctx), ctx)
        return op.apply(batch, decisions, ctx)
    return op.process(batch, ctx)


def test_every_op_is_listed_with_a_docstring_citing_its_source():
    assert {"normalize", "length", "language", "pii", "filter", "dedup_exact"} <= set(OPS)
    for name in OPS:
        doc = all_ops()[name].__doc__ or ""
        assert len(doc.strip().splitlines()) >= 3, name
        assert "Examples" in doc, name


# An Example runs the op on records: its process, keys/decide/apply, or try_op (ops/examples.py).
_RUNS_THE_OP = re.compile(r"\.process\(|\.decide\(|\.apply\(|\btry_op\(")


def _example_problem(doc: str) -> str | None:
    """Why an op's Examples section does not show what the op does to a record, or None."""
    examples = doc.partition("Examples")[2]
    code = [line.strip()[4:] for line in examples.splitlines() if line.strip().startswith((">>> ", "... "))]
    shown = [line for line in examples.splitlines()[2:] if line.strip() and not line.strip().startswith((">>>", "..."))]
    if not any(_RUNS_THE_OP.search(line) for line in code):
        return "it never runs the op on records (process, decide/apply, or try_op)"
    if not shown:
        return "it shows no output"
    return None


@pytest.mark.parametrize("name", OPS)
def test_example_shows_what_the_op_does_to_a_record(name):
    assert _example_problem(all_ops()[name].__doc__ or "") is None, name


def test_an_example_that_only_echoes_a_parameter_is_rejected():
    echo = "Drop short documents.\n\n    Examples\n    --------\n    >>> Length(min_words=50).min_words\n    50\n"
    assert _example_problem(echo) == "it never runs the op on records (process, decide/apply, or try_op)"
    silent = "Drop.\n\n    Examples\n    --------\n    >>> _ = try_op(Length(min_words=5), rows)\n"
    assert _example_problem(silent) == "it shows no output"


@pytest.mark.parametrize("name", OPS)
def test_yaml_round_trip(name, tmp_path):
    op = _build(name)
    recipe = Recipe(input="d.jsonl", output="o", steps=[op])
    again = Recipe.from_dict(yaml.safe_load(recipe.to_yaml()))
    assert again.steps[0].op == op


@pytest.mark.parametrize("name", OPS)
def test_pickles_and_stays_equal(name):
    op = _build(name)
    _process(op, _batch(), prepare=True)  # loads models/caches, which must not be pickled
    assert pickle.loads(pickle.dumps(op)) == op


@pytest.mark.parametrize("name", OPS)
def test_empty_batch_keeps_the_schema_of_a_full_one(name):
    op = _build(name)
    full = _process(op, _batch(), prepare=True)
    empty = _process(op, _batch(0), prepare=True)
    assert empty.batch.num_rows == 0
    assert empty.batch.schema == full.batch.schema


@pytest.mark.parametrize("name", OPS)
def test_one_reason_per_row_and_input_columns_kept(name):
    op = _build(name)
    batch = _prepared(name, _batch())
    result = _process(op, batch)
    assert result.batch.num_rows == batch.num_rows
    assert result.reasons is None or len(result.reasons) == batch.num_rows
    assert set(batch.schema.names) <= set(result.batch.schema.names)
    assert result.batch.column("id").equals(batch.column("id"))
    added = set(result.batch.schema.names) - set(batch.schema.names)
    assert all(c.startswith("th_") for c in added), added
    assert added <= set(op.writes)


@pytest.mark.parametrize("name", OPS)
def test_deterministic(name):
    a, b = _process(_build(name), _batch(), prepare=True), _process(_build(name), _batch(), prepare=True)
    assert a.batch.equals(b.batch)
    assert (a.reasons is None and b.reasons is None) or list(a.reasons) == list(b.reasons)


@pytest.mark.parametrize("name", OPS)
def test_rejects_unknown_and_mistyped_parameters(name):
    cls = all_ops()[name]
    with pytest.raises(RecipeError, match=f"{name} has no parameter 'no_such_param'"):
        cls(**REQUIRED.get(name, {}), no_such_param=1)
    for pname, param in cls.params.items():
        wrong = [1, 2] if param.kind is not list else 3.5
        with pytest.raises(RecipeError, match=f"{name}.{pname} must be"):
            cls(**{**REQUIRED.get(name, {}), pname: wrong})
