"""Helpers shared by the text-op tests: run an op on texts, read a column, the rule of a reason."""

import pyarrow as pa

from thresher.ops.base import OpContext


def run(op, texts):
    batch = pa.RecordBatch.from_pydict({"id": pa.array([f"d{i}" for i in range(len(texts))], pa.string()),
                                        "text": pa.array(texts, pa.string())})
    return op.process(batch, OpContext())


def column(result, name):
    return result.batch.column(name).to_pylist()


def rule(reason):
    return None if reason is None else reason.split(": ", 1)[0]
