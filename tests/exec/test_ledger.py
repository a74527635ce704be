"""The audit (input = kept ⊎ removed) compares ids, not only counts."""

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import PROSE, make_recipe, write_jsonl
from thresher import Recipe, run
from thresher.errors import InvariantError


def test_audit_fails_when_a_record_is_replaced_by_a_copy_of_another(tmp_path):
    rows = [{"id": f"r{i}", "text": PROSE[i % len(PROSE)] + f" ({i})"} for i in range(8)]
    recipe = Recipe.from_dict(make_recipe(tmp_path, write_jsonl(tmp_path / "in.jsonl", rows), [{"length": {}}]),
                              base_dir=tmp_path)
    run(recipe)
    part = sorted((tmp_path / "out" / "kept").glob("part-*"))[0]
    table = pq.read_table(part)
    ids = table.column("id")
    forged = pc.if_else(pc.equal(ids, "r3"), pa.scalar("r4"), ids)  # as many records, r3 lost, r4 twice
    pq.write_table(table.set_column(table.schema.get_field_index("id"), "id", forged), part)
    with pytest.raises(InvariantError, match=r"8 input records but 8 kept \+ 0 removed; missing from the output: "
                                             r"\['r3'\]"):
        run(recipe)
