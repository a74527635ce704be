"""Helpers shared by the text-op tests: real prose, run an op on texts, read a column, the rule of a reason."""

import pyarrow as pa

from thresher.ops.base import OpContext

# The preamble of the GNU GPL version 3 (Debian's /usr/share/common-licenses/GPL-3), unwrapped.
PREAMBLE = [
    "The GNU General Public License is a free, copyleft license for software and other kinds of works.",
    "The licenses for most software and other practical works are designed to take away your freedom to "
    "share and change the works. By contrast, the GNU General Public License is intended to guarantee your "
    "freedom to share and change all versions of a program--to make sure it remains free software for all "
    "its users. We, the Free Software Foundation, use the GNU General Public License for most of our "
    "software; it applies also to any other work released this way by its authors. You can apply it to "
    "your programs, too.",
    "When we speak of free software, we are referring to freedom, not price. Our General Public Licenses "
    "are designed to make sure that you have the freedom to distribute copies of free software (and charge "
    "for them if you wish), that you receive source code or can get it if you want it, that you can change "
    "the software or use pieces of it in new free programs, and that you know you can do these things.",
    "To protect your rights, we need to prevent others from denying you these rights or asking you to "
    "surrender the rights. Therefore, you have certain responsibilities if you distribute copies of the "
    "software, or if you modify it: responsibilities to respect the freedom of others.",
    "For example, if you distribute copies of such a program, whether gratis or for a fee, you must pass "
    "on to the recipients the same freedoms that you received. You must make sure that they, too, receive "
    "or can get the source code. And you must show them these terms so they know their rights.",
]


def run(op, texts):
    batch = pa.RecordBatch.from_pydict({"id": pa.array([f"d{i}" for i in range(len(texts))], pa.string()),
                                        "text": pa.array(texts, pa.string())})
    return op.process(batch, OpContext())


def column(result, name):
    return result.batch.column(name).to_pylist()


def rule(reason):
    return None if reason is None else reason.split(": ", 1)[0]
