"""The curated-vs-random evaluation: its pools, its metrics, its verdict, recipe section and CLI."""

import json

import numpy as np
import pytest

from conftest import make_recipe, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.cli import main
from thresher.errors import InputError, NotFoundError, RecipeError
from thresher.evaluation import EvalConfig, _held_out, _scores, _verdict, evaluate


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory):
    """A run over 600 real records labelled by source that keeps only English ones."""
    tmp = tmp_path_factory.mktemp("eval")
    data = write_jsonl(tmp / "d.jsonl", real_rows(600))
    recipe = make_recipe(tmp, data, [{"language": {"keep": ["en"], "min_score": 0.5}}])
    recipe["eval"] = {"label": "source", "features": "tfidf", "test_scope": "kept", "seeds": 3}
    result = run(Recipe.from_dict(recipe, base_dir=tmp))
    return tmp, result


def test_recipe_eval_lands_in_manifest_summary_report_and_card(labelled_run):
    tmp, result = labelled_run
    ev = result.manifest["eval"]
    assert ev["curated"]["records"] == ev["random"]["records"] < ev["full"]["records"]
    assert ev["random"]["seeds"] == 3 and ev["test"]["records"] > 0
    assert ev["verdict"] in ("curation helped", "curation did not help")
    assert result.summary().splitlines()[-1].startswith("eval: curation")
    assert "Evaluation: did curation help?" in (tmp / "out" / "report.html").read_text()
    card = (tmp / "out" / "README.md").read_text()
    assert "## Evaluation" in card and "## Classes (`source`)" in card


def test_pools_exclude_the_test_split_and_sizes_add_up(labelled_run):
    tmp, result = labelled_run
    ev = evaluate(tmp / "out", EvalConfig(label="source", features="tfidf", seeds=2), seed=0)
    ids = [r["id"] for r in real_rows(600)]
    held = _held_out(ids, 0.2, 0)
    assert ev["test"]["records"] == held.sum()  # test_scope input: every held-out record
    assert ev["full"]["records"] == len(ids) - held.sum()
    kept_outside_test = result.counts["kept"] - sum(
        1 for i, h in zip(ids, held) if h and i in _kept_ids(tmp / "out"))
    assert ev["curated"]["records"] == kept_outside_test


def _kept_ids(out):
    from conftest import read_output

    return set(read_output(out, "kept").column("id").to_pylist())


def test_evaluation_is_deterministic_and_held_out_split_ignores_order(labelled_run):
    tmp, _ = labelled_run
    cfg = EvalConfig(label="source", features="tfidf", seeds=2)
    assert evaluate(tmp / "out", cfg, seed=3) == evaluate(tmp / "out", cfg, seed=3)
    ids = [f"r{i}" for i in range(2000)]
    held = _held_out(ids, 0.25, 7)
    assert 0.2 < held.mean() < 0.3
    assert (_held_out(ids[::-1], 0.25, 7)[::-1] == held).all()


def test_scores_match_hand_computed_metrics():
    y = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    p = np.array(["a", "a", "b", "b", "b", "a"], dtype=object)
    s = _scores(y, p, np.array(["a", "b", "c"], dtype=object))
    # a: P 2/3 R 2/3; b: P 2/3 R 1; c: P 0 R 0
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert s["worst_class_recall"] == 0 and s["worst_class"] == "c"


def test_verdict_needs_a_margin_beyond_the_random_spread():
    def result(curated, mean, std):
        return {"curated": {"macro_f1": curated}, "random": {"macro_f1": {"mean": mean, "std": std}}}

    assert _verdict(result(0.80, 0.70, 0.01))["helped"]
    assert not _verdict(result(0.71, 0.70, 0.01))["helped"]  # within twice the spread
    assert not _verdict(result(0.60, 0.70, 0.0))["helped"]
    assert _verdict(result(0.60, 0.70, 0.0))["margin"] == pytest.approx(-0.1)


def test_cli_eval_with_a_test_file_updates_the_run(labelled_run, tmp_path, capsys):
    tmp, _ = labelled_run
    test = write_jsonl(tmp_path / "test.jsonl", real_rows(800)[600:])
    code = main(["eval", str(tmp / "out"), "--label", "source", "--test", str(test), "--features", "tfidf",
                 "--seeds", "2"])
    printed = capsys.readouterr().out
    assert code == 0 and "random, same size (2 seeds)" in printed and "eval: curation" in printed
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert manifest["eval"]["test"]["source"] == "file test.jsonl"
    assert manifest["eval"]["test"]["records"] == 200


def test_bad_eval_settings_are_named(labelled_run, tmp_path):
    tmp, _ = labelled_run
    with pytest.raises(InputError, match="eval.label.*'topic'"):
        evaluate(tmp / "out", EvalConfig(label="topic", features="tfidf"))
    with pytest.raises(NotFoundError, match="eval.test.*nope.jsonl"):
        evaluate(tmp / "out", EvalConfig(label="source", features="tfidf", test=str(tmp_path / "nope.jsonl")))
    with pytest.raises(RecipeError, match="eval.label is required"):
        EvalConfig.from_dict({"features": "tfidf"})
    with pytest.raises(RecipeError, match="eval.*split"):
        EvalConfig.from_dict({"label": "source", "split": 1.5})
    with pytest.raises(RecipeError, match="eval.*feature"):
        EvalConfig.from_dict({"label": "source", "feature": "tfidf"})


def test_evaluation_on_embeddings_uses_the_embedding_cache(labelled_run):
    tmp, _ = labelled_run
    cfg = EvalConfig(label="source", model="static", seeds=1)
    first = evaluate(tmp / "out", cfg)
    assert 0 < first["curated"]["macro_f1"] <= 1
    assert evaluate(tmp / "out", cfg) == first
