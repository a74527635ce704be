"""label_issues: confident learning checked by hand and against cleanlab's recorded output,
cross-fitting out of sample, the actions, and clear errors."""

import numpy as np
import pyarrow as pa
import pytest

from conftest import make_recipe, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.errors import InputError, RecipeError
from thresher.manifest import step_info
from thresher.ops import OpContext
from thresher.ops.model import proxy
from thresher.ops.model.confident import (
    calibrate,
    class_thresholds,
    confident_joint,
    find_label_issues,
    normalized_margin,
)
from thresher.ops.model.label_issues import LabelIssues

# cleanlab 2.9.0 `filter.find_label_issues(labels, pred_probs)` (its defaults) on _noisy(seed, n, k).
CLEANLAB = {(1, 80, 3): [3, 10, 12, 14, 21, 26, 31, 34, 35, 37, 40, 46, 48, 54, 55, 65, 75, 77, 79],
            (2, 150, 5): [10, 14, 16, 20, 21, 24, 33, 40, 43, 45, 52, 67, 68, 69, 80, 95, 100, 106, 116, 120, 122,
                          135, 136, 148]}


def _noisy(seed, n, k):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2.0
    labels = logits.argmax(1)
    flip = rng.random(n) < 0.25
    labels[flip] = rng.integers(0, k, flip.sum())
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True), labels


@pytest.mark.parametrize("case", sorted(CLEANLAB))
def test_same_issues_as_cleanlab_on_the_same_probabilities(case):
    probs, labels = _noisy(*case)
    assert np.flatnonzero(find_label_issues(probs, labels)).tolist() == CLEANLAB[case]


def test_confident_joint_by_hand():
    probs = np.array([[.9, .1], [.7, .3], [.2, .8], [.6, .4], [.3, .7]])
    labels = np.array([0, 0, 1, 1, 0])
    t = class_thresholds(probs, labels)  # class 0: (.9 + .7 + .3) / 3; class 1: (.8 + .4) / 2
    np.testing.assert_allclose(t, [1.9 / 3, 0.6])
    joint, guess = confident_joint(probs, labels)
    # rec 0, 1: only p0 >= .633 -> 0; rec 2: only p1 -> 1; rec 3: p1 .4 < .6, p0 .6 < .633 -> none;
    # rec 4 (labelled 0): p1 .7 >= .6 -> 1
    assert guess.tolist() == [0, 0, 1, -1, 1]
    assert joint.tolist() == [[2, 1], [0, 1]]
    assert calibrate(joint, labels).tolist() == [[2, 1], [0, 2]]  # rows scaled to 3 and 2 labels
    assert find_label_issues(probs, labels).tolist() == [False, False, False, False, True]
    np.testing.assert_allclose(normalized_margin(probs, labels), [.9, .7, .8, .4, .3])


def test_cross_fitting_never_scores_a_record_with_a_model_that_saw_it(monkeypatch):
    seen = []
    real = proxy.fit_predict

    def spy(x_train, y_train, x_test, n_classes, **kw):
        seen.append((set(map(tuple, x_train.tolist())), [tuple(r) for r in x_test.tolist()]))
        return real(x_train, y_train, x_test, n_classes, **kw)

    monkeypatch.setattr(proxy, "fit_predict", spy)
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 3
    probs, _, acc = proxy.cross_fit(x, y, 3, folds=4, seed=1)
    tested = [r for _, test in seen for r in test]
    assert len(seen) == 4 and sorted(tested) == sorted(map(tuple, x.tolist()))
    for train, test in seen:
        assert not train & set(test)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    again, _, _ = proxy.cross_fit(x, y, 3, folds=4, seed=1)
    np.testing.assert_array_equal(probs, again)


def _labelled_rows(tmp_path):
    """Real passages of three sources, 10% of labels flipped to another source (recorded)."""
    rows = [r for r in real_rows(900) if r["source"] in ("fortunes", "foldoc", "manpages")][:300]
    rng = np.random.default_rng(0)
    sources = ["fortunes", "foldoc", "manpages"]
    flipped = set(rng.choice(len(rows), size=len(rows) // 10, replace=False).tolist())
    for i, r in enumerate(rows):
        r["label"] = r["source"] if i not in flipped else sources[(sources.index(r["source"]) + 1) % 3]
    return rows, {rows[i]["id"] for i in flipped}


def test_proxy_on_tfidf_finds_flipped_labels_of_real_text(tmp_path):
    rows, truth = _labelled_rows(tmp_path)
    assert len({r["source"] for r in rows}) == 3
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    steps = [{"label_issues": {"features": "tfidf", "action": "remove"}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps)))
    removed = read_output(result.output_dir, "removed")
    found = set(removed.column("id").to_pylist())
    precision, recall = len(found & truth) / max(len(found), 1), len(found & truth) / len(truth)
    assert precision > 0.6 and recall > 0.5, (precision, recall)
    r = removed.to_pylist()[0]
    assert r["reason"].startswith("label issue: given ") and r["th_suggested_label"] != r["label"]
    info = step_info(result.manifest, "label_issues")
    assert 0.5 < info["proxy_heldout_accuracy"] <= 1 and info["issues"] == len(found)
    kept = read_output(result.output_dir, "kept")
    assert kept.column("th_label_issue").to_pylist().count(True) == 0


def test_given_probabilities_flag_and_relabel(tmp_path):
    probs, labels = _noisy(1, 80, 3)
    rows = [{"id": f"r{i:03d}", "text": "x", "y": int(labels[i]), "p": probs[i].tolist()} for i in range(80)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    steps = [{"label_issues": {"label": "y", "probs": "p", "action": "relabel"}}]
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, steps, workers=2, shard_rows=25)))
    kept = read_output(result.output_dir, "kept")
    assert kept.num_rows == 80
    flagged = [i for i, f in enumerate(kept.column("th_label_issue").to_pylist()) if f]
    assert flagged == CLEANLAB[(1, 80, 3)]
    clean = kept.column("th_label_clean").to_pylist()
    for i in range(80):
        assert clean[i] == (kept.column("th_suggested_label")[i].as_py() if i in flagged else str(labels[i]))


@pytest.mark.parametrize("bad, message", [
    ("sum", "do not sum to 1"),
    ("label", r"labels outside the classes: \['7'\]"),
    ("column", r"step 1 \(label_issues\)\.probs: no column 'p'"),
    ("width", "rows have 2 entries but there are 3 classes"),
])
def test_bad_predictions_are_named(tmp_path, bad, message):
    rows = [{"id": f"r{i}", "text": "x", "y": i % 3, "p": [0.2, 0.3, 0.5]} for i in range(9)]
    if bad == "sum":
        rows[4]["p"] = [0.5, 0.5, 0.5]
    elif bad == "label":
        rows[2]["y"] = 7
        steps_classes = ["0", "1", "2"]
    elif bad == "column":
        rows = [{k: v for k, v in r.items() if k != "p"} for r in rows]
    else:
        rows = [{**r, "p": [0.5, 0.5]} for r in rows]
    params = {"label": "y", "probs": "p"}
    if bad == "label":
        params["classes"] = steps_classes
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(RecipeError if bad == "column" else InputError, match=message):  # a column: at plan time
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"label_issues": params}])))


def test_parameters_and_missing_columns():
    with pytest.raises(RecipeError, match="give probs or logits, not both"):
        LabelIssues(probs="p", logits="z")
    op = LabelIssues(label="y")
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["t"]})
    with pytest.raises(InputError, match="label_issues.label: no column 'y'"):
        op.keys(batch, OpContext())
    with pytest.raises(InputError, match="add an `- embed"):
        LabelIssues(label="id").keys(batch, OpContext())
