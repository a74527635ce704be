"""thresher dedup-eval: precision, recall and F1 of a run's dedup against known duplicates."""

import json

import pytest

from conftest import PROSE, make_recipe, write_jsonl
from thresher import Recipe, run
from thresher.cli import main
from thresher.dedup_eval import evaluate, score


def _planted(tmp_path):
    text = PROSE[0] + " " + PROSE[1]
    rows = [{"id": "a", "text": text}, {"id": "b", "text": text.replace("practical", "useful")},
            {"id": "c", "text": PROSE[2]}, {"id": "d", "text": PROSE[3]}, {"id": "e", "text": PROSE[3] + " Amen."}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    run(Recipe.from_dict(make_recipe(tmp_path, data, [{"dedup_minhash": {}}]), base_dir=tmp_path))
    truth = tmp_path / "truth.jsonl"
    truth.write_text("\n".join(json.dumps(r) for r in [
        {"id": "b", "dup_of": "a", "jaccard": 0.86}, {"id": "e", "dup_of": "d", "jaccard": 0.5},
        {"id": "zz", "dup_of": "c", "jaccard": 0.9}]) + "\n")
    return tmp_path / "out", truth


def test_cli_prints_both_scores(tmp_path, capsys):
    out, truth = _planted(tmp_path)
    assert main(["dedup-eval", str(out), str(truth)]) == 0
    text = capsys.readouterr().out
    assert "all duplicates" in text and "jaccard >= 0.8" in text
    assert main(["dedup-eval", str(out), str(truth), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    strong = scores["jaccard >= 0.8"]
    assert strong["tp"] == 1 and strong["fp"] == 0 and strong["fn"] == 1  # b found; zz is not in the data
    assert evaluate(out, truth, 0.8).to_dict() == strong


def test_cluster_truth_and_whole_cluster_removed():
    truth = [{"cluster": ["a", "b", "c"]}]
    assert (score(["b", "c"], truth).precision, score(["b", "c"], truth).recall) == (1.0, 1.0)
    every = score(["a", "b", "c", "x"], truth)
    assert (every.tp, every.fp, every.fn) == (2, 2, 0)  # one of a/b/c should stay; x is no duplicate


def test_bad_truth_and_unknown_step(tmp_path, capsys):
    out, truth = _planted(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "b", "dup_of": "a"}\n{"id": "b"}\n')
    assert main(["dedup-eval", str(out), str(bad)]) == 3
    assert "bad.jsonl:2: expected" in capsys.readouterr().err
    assert main(["dedup-eval", str(out), str(truth), "--step", "nope"]) == 7
    assert "no step 'nope'" in capsys.readouterr().err
    assert main(["dedup-eval", str(tmp_path / "missing"), str(truth)]) == 7


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 128), (0.7, 64), (0.8, 128), (0.8, 256), (0.9, 128)])
def test_recall_banding_finds_pairs_at_the_threshold(threshold, num_perm):
    from thresher.ops.dedup.lsh import recall_bands, s_curve

    bands, rows = recall_bands(threshold, num_perm)
    assert bands * rows <= num_perm and s_curve(threshold, bands, rows) >= 0.995
