"""quality_classifier: trained scores out of fold, saved and applied, from the recipe and the CLI."""

import numpy as np
import pytest

from conftest import make_recipe, read_output, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.cli import main
from thresher.errors import InputError, NotFoundError
from thresher.manifest import step_info


def _docs():
    rows = real_rows(20000)
    good = [r for r in rows if r["source"] == "python-doc"][:120]
    bad = [r for r in rows if r["source"] == "fortunes"][:120]
    return good, bad


def test_train_then_apply_from_recipes(tmp_path):
    good, bad = _docs()
    train = [{**r, "good": True} for r in good[:80]] + [{**r, "good": False} for r in bad[:80]] + \
            [{**r, "good": None} for r in good[80:] + bad[80:]]
    path = write_jsonl(tmp_path / "train.jsonl", train)
    step = {"quality_classifier": {"model": "model.pkl", "label": "good", "features": "tfidf"}}
    recipe = make_recipe(tmp_path / "a", path, [step])
    result = run(Recipe.from_dict(recipe, base_dir=tmp_path))
    assert (tmp_path / "model.pkl").exists()  # relative to the recipe's directory
    info = step_info(result.manifest, "quality_classifier")
    assert info["trained_on"] == 160 and info["heldout_accuracy"] > 0.85
    kept = read_output(result.output_dir, "kept")
    score = dict(zip(kept.column("id").to_pylist(), kept.column("th_quality_score").to_pylist()))
    unseen_good = np.mean([score[r["id"]] for r in good[80:]])
    unseen_bad = np.mean([score[r["id"]] for r in bad[80:]])
    assert unseen_good > 0.5 > unseen_bad and unseen_good - unseen_bad > 0.2
    apply = {"quality_classifier": {"model": "model.pkl", "features": "tfidf", "keep_above": 0.5}}
    path2 = write_jsonl(tmp_path / "new.jsonl", good[80:] + bad[80:])
    applied = run(Recipe.from_dict(make_recipe(tmp_path / "b", path2, [apply]), base_dir=tmp_path))
    kept_ids = set(read_output(applied.output_dir, "kept").column("id").to_pylist())
    assert len(kept_ids & {r["id"] for r in good[80:]}) >= 30 and len(kept_ids & {r["id"] for r in bad[80:]}) <= 10
    removed = read_output(applied.output_dir, "removed")
    assert removed.column("reason").to_pylist()[0].startswith("low quality score: ")


def test_a_0_to_5_score_target(tmp_path):
    good, bad = _docs()
    rows = [{**r, "edu": 4 + i % 2} for i, r in enumerate(good[:60])] + [{**r, "edu": i % 2} for i, r in
                                                                          enumerate(bad[:60])]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    step = {"quality_classifier": {"model": str(tmp_path / "edu.pkl"), "label": "edu", "target": "score",
                                   "features": "tfidf", "keep_above": 3}}
    result = run(Recipe.from_dict(make_recipe(tmp_path, path, [step])))
    info = step_info(result.manifest, "quality_classifier")
    assert info["heldout_mae"] < 1.5
    kept = read_output(result.output_dir, "kept")
    assert sum(r["source"] == "python-doc" for r in kept.to_pylist()) > 0.8 * kept.num_rows


def test_cli_train_with_positive_and_negative_files_then_apply(tmp_path, capsys):
    good, bad = _docs()
    pos, neg = write_jsonl(tmp_path / "pos.jsonl", good[:60]), write_jsonl(tmp_path / "neg.jsonl", bad[:60])
    model = tmp_path / "q.pkl"
    assert main(["quality", "train", "--positive", str(pos), "--negative", str(neg), "--model", str(model),
                 "--out", str(tmp_path / "o1"), "--features", "tfidf"]) == 0
    assert "heldout_accuracy" in capsys.readouterr().out
    data = write_jsonl(tmp_path / "data.jsonl", good[60:90] + bad[60:90])
    assert main(["quality", "apply", str(model), str(data), "--keep-above", "0.5", "--out", str(tmp_path / "o2"),
                 "--features", "tfidf"]) == 0
    assert read_output(tmp_path / "o2", "kept").num_rows < 60
    assert main(["quality", "train", "--positive", str(pos), "--model", str(model), "--out",
                 str(tmp_path / "o3")]) == 2


def test_errors_name_the_problem(tmp_path):
    rows = [{"id": f"r{i}", "text": f"words {i}", "good": 2} for i in range(6)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(InputError, match="binary labels must be true/false or 1/0, found \\[2.0\\]"):
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"quality_classifier": {
            "model": str(tmp_path / "m.pkl"), "label": "good", "features": "tfidf"}}])))
    with pytest.raises(NotFoundError, match="does not exist; train it first"):
        run(Recipe.from_dict(make_recipe(tmp_path, path, [{"quality_classifier": {
            "model": str(tmp_path / "none.pkl"), "features": "tfidf"}}])))
