"""An output directory loads as it stands with Hugging Face ``datasets``: the card's front
matter names the ``kept`` (default) and ``removed`` configs, and the work files stay out."""

import pytest

from conftest import make_recipe, real_rows, write_jsonl
from thresher import Recipe, run
from thresher.io.readers import output_parts, read_output_file

datasets = pytest.importorskip("datasets")


def _ids(out, where):
    return sorted(i for p in output_parts(out, where) for i in read_output_file(p, ["id"]).column("id").to_pylist())


def _load(out, *config, tmp_path):
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets.load_dataset(str(out), *config, cache_dir=str(tmp_path / "hf"))["train"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl.gz"])
def test_datasets_loads_kept_by_default_and_removed_by_config(tmp_path, fmt):
    """Removed records of two steps (``dup_of`` null in the length step's files): one config."""
    rows = real_rows(40) + [dict(r, id=r["id"] + "-copy") for r in real_rows(8)]
    recipe = make_recipe(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows),
                         [{"length": {"min_words": 12}}, {"dedup_exact": {}}], shard_rows=16)
    recipe["output"]["format"] = fmt
    out = run(Recipe.from_dict(recipe)).output_dir
    kept, removed = _load(out, tmp_path=tmp_path), _load(out, "removed", tmp_path=tmp_path)
    assert sorted(kept["id"]) == _ids(out, "kept") and len(kept) > 0
    assert sorted(removed["id"]) == _ids(out, "removed")
    assert {"dedup_exact", "length"} == set(removed["removed_by"]) and "dup_of" not in kept.column_names
    assert (out / "README.md").read_text().startswith("---\nconfigs:\n")


def test_a_run_that_removes_nothing_has_only_the_kept_config(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", real_rows(10))
    out = run(Recipe.from_dict(make_recipe(tmp_path, path, [{"dedup_exact": {}}]))).output_dir
    assert len(_load(out, tmp_path=tmp_path)) == 10
    with pytest.raises(ValueError, match="removed"):
        _load(out, "removed", tmp_path=tmp_path)
