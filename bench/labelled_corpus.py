#!/usr/bin/env python3
"""A labelled, naturally imbalanced text corpus: passages of real Debian-packaged text, each
labelled with the source it came from (the task "which source did this passage come from").

    python bench/labelled_corpus.py --out bench/.data/labelled

**Documents** are ``bench/corpus.py``'s ``all_documents()`` (the cached extraction
``bench/.data/extract-cache.jsonl.gz`` of ``scripts/build_sample.py``'s sources, in source
order then file order). Only the English sources are used: the German, Italian and Spanish
fortunes, the French Debian reference and the French man pages are left out, so that the label
is the source's kind of text and not its language. The sources are grouped into 7 classes:

    fortunes     fortunes, fortunes-min (fortune(6) records)
    foldoc       foldoc (dictionary of computing entries)
    jargon       jargon (Jargon File entries)
    devil        devil (The Devil's Dictionary entries)
    python-doc   python-doc (sections of the Python HTML documentation)
    debian-doc   debian-reference, debian-policy, developers-reference (sections of the manuals)
    manpages     manpages, manpages-dev (man pages rendered with man(1))

**Passages.** A document of at most 1500 characters (a fortune, a dictionary entry, a short
section) is one passage, whole. A longer one is cut into paragraphs (blank-line separated); a
paragraph longer than 1500 characters is cut further at line breaks into runs of whole lines
of at most 1500 characters (a single longer line stays whole). Consecutive paragraphs are then
grouped greedily: a group is closed once it has at least 300 characters, or when the next
paragraph would take it over 1500; a last group shorter than 300 characters is appended to the
one before when the two fit in 1500. Passages get the document's id, or ``<id>/p<k>`` for the
k-th group of a split document. Each passage's text is stripped of surrounding whitespace.

**Filtering.** Passages shorter than 100 characters are dropped, and so are exact duplicates
after normalization (lowercase, runs of whitespace to one space): within a class the first
passage (in document order) is kept; a text that occurs in two classes is ambiguous and all
its copies are dropped. Nothing is downsampled: the class sizes are the sources' own, which
makes the corpus naturally imbalanced (largest class >= 20x the smallest). Only if more than
``--max-total`` passages (default 120,000) remain is a seeded uniform random sample of that
many kept (proportions unchanged in expectation); with the current sources this does not
happen (about 61,000 passages).

**Split.** ``test.jsonl`` is a stratified held-out split: in each class, ``round(0.2 * n)``
passages chosen by a seeded shuffle of the class's passages in document order; ``pool.jsonl``
is the rest. Both hold ``{"id", "text", "label"}`` per line and are shuffled (seeded).
``stats.json`` has the counts per class in pool and test, mean characters per class and
overall, the imbalance ratio and what was dropped.

Deterministic: fixed seed (``bench/corpus.py``'s), the extraction's sorted walks. Takes
seconds once the extraction is cached (``python bench/corpus.py docs`` or this script builds
it on first use).
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  bench/corpus.py: the real documents
from common import log  # noqa: E402

SEED = corpus.SEED
#: class -> the sources of scripts/build_sample.py it groups; other sources are not used
CLASSES: dict[str, tuple[str, ...]] = {
    "fortunes": ("fortunes", "fortunes-min"),
    "foldoc": ("foldoc",),
    "jargon": ("jargon",),
    "devil": ("devil",),
    "python-doc": ("python-doc",),
    "debian-doc": ("debian-reference", "debian-policy", "developers-reference"),
    "manpages": ("manpages", "manpages-dev"),
}
LABEL_OF = {src: label for label, srcs in CLASSES.items() for src in srcs}
MAX_CHARS = 1500  # documents up to this stay whole; groups of paragraphs stay under it
MIN_GROUP = 300  # a paragraph group is closed once it reaches this many characters
MIN_PASSAGE = 100  # shorter passages are dropped
TEST_FRACTION = 0.2
MAX_TOTAL = 120_000


def _line_runs(para: str, max_chars: int) -> list[str]:
    """A paragraph longer than max_chars as runs of whole lines of at most max_chars."""
    if len(para) <= max_chars:
        return [para]
    runs: list[str] = []
    cur: list[str] = []
    size = 0
    for line in para.split("\n"):
        if cur and size + 1 + len(line) > max_chars:
            runs.append("\n".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line) + (1 if size else 0)
    if cur:
        runs.append("\n".join(cur))
    return runs


def passages(text: str, max_chars: int = MAX_CHARS, min_group: int = MIN_GROUP) -> list[str]:
    """The passages of one document's text (see the module docstring)."""
    if len(text) <= max_chars:
        return [text]
    paras = [run for p in re.split(r"\n[ \t]*\n", text) if p.strip()
             for run in _line_runs(p.strip("\n"), max_chars)]
    groups: list[str] = []
    cur: list[str] = []
    size = 0
    for p in paras:
        if cur and (size >= min_group or size + 2 + len(p) > max_chars):
            groups.append("\n\n".join(cur))
            cur, size = [], 0
        cur.append(p)
        size += len(p) + (2 if size else 0)
    if cur:
        last = "\n\n".join(cur)
        if groups and size < min_group and len(groups[-1]) + 2 + size <= max_chars:
            groups[-1] += "\n\n" + last
        else:
            groups.append(last)
    return groups


def norm_key(text: str) -> str:
    return " ".join(text.lower().split())


def build(docs: list[dict]) -> tuple[list[dict], dict]:
    """Labelled, filtered passages of ``docs`` in document order, and what was dropped."""
    cands: list[dict] = []
    dropped = collections.Counter()
    for d in docs:
        label = LABEL_OF.get(d["source"])
        if label is None:
            continue
        parts = passages(d["text"])
        for k, part in enumerate(parts):
            text = part.strip()
            if len(text) < MIN_PASSAGE:
                dropped["short"] += 1
                continue
            pid = d["id"] if len(parts) == 1 else f"{d['id']}/p{k}"
            cands.append({"id": pid, "text": text, "label": label})
    labels_of_key: dict[str, set[str]] = collections.defaultdict(set)
    for p in cands:
        labels_of_key[norm_key(p["text"])].add(p["label"])
    seen: set[str] = set()
    out: list[dict] = []
    for p in cands:
        key = norm_key(p["text"])
        if len(labels_of_key[key]) > 1:
            dropped["duplicate_across_classes"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            out.append(p)
    ids = [p["id"] for p in out]
    assert len(ids) == len(set(ids)), "duplicate passage ids"
    return out, dict(dropped)


def split(items: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified split: round(TEST_FRACTION * n) of each class to test, the rest to pool."""
    by_label: dict[str, list[dict]] = collections.defaultdict(list)
    for p in items:
        by_label[p["label"]].append(p)
    pool: list[dict] = []
    test: list[dict] = []
    for label in sorted(by_label):
        group = list(by_label[label])
        random.Random(f"{seed}/{label}").shuffle(group)
        k = round(TEST_FRACTION * len(group))
        test.extend(group[:k])
        pool.extend(group[k:])
    rng = random.Random(seed)
    rng.shuffle(pool)
    rng.shuffle(test)
    return pool, test


def write_jsonl(items: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for p in items:
            f.write(json.dumps({"id": p["id"], "text": p["text"], "label": p["label"]},
                               ensure_ascii=False) + "\n")


def stats(pool: list[dict], test: list[dict], dropped: dict, capped_from: int | None) -> dict:
    labels = list(CLASSES)
    pool_n = collections.Counter(p["label"] for p in pool)
    test_n = collections.Counter(p["label"] for p in test)
    chars = collections.Counter()
    for p in pool + test:
        chars[p["label"]] += len(p["text"])
    total = {lab: pool_n[lab] + test_n[lab] for lab in labels}
    n = len(pool) + len(test)
    present = [v for v in total.values() if v]
    return {
        "classes": {lab: {"sources": list(CLASSES[lab]), "pool": pool_n[lab], "test": test_n[lab],
                          "total": total[lab],
                          "mean_chars": round(chars[lab] / total[lab], 1) if total[lab] else 0.0}
                    for lab in labels},
        "pool": len(pool),
        "test": len(test),
        "total": n,
        "mean_chars": round(sum(chars.values()) / n, 1) if n else 0.0,
        "imbalance_ratio": round(max(present) / min(present), 2) if present else 0.0,
        "dropped": dropped,
        "capped_from": capped_from,
        "params": {"max_chars": MAX_CHARS, "min_group": MIN_GROUP, "min_passage": MIN_PASSAGE,
                   "test_fraction": TEST_FRACTION, "seed": SEED},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Labelled (by source), naturally imbalanced passages "
                                             "of real Debian text.")
    ap.add_argument("--out", type=Path, default=corpus.DATA / "labelled")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--max-total", type=int, default=MAX_TOTAL,
                    help="keep a seeded random sample of this many passages if there are more")
    ap.add_argument("--refresh", action="store_true", help="re-extract, ignore the cache")
    args = ap.parse_args(argv)

    items, dropped = build(corpus.all_documents(args.refresh))
    capped_from = None
    if len(items) > args.max_total:
        capped_from = len(items)
        keep = sorted(random.Random(args.seed).sample(range(len(items)), args.max_total))
        items = [items[i] for i in keep]
        log(f"capped {capped_from} passages to a seeded random {args.max_total}")
    pool, test = split(items, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(pool, args.out / "pool.jsonl")
    write_jsonl(test, args.out / "test.jsonl")
    st = stats(pool, test, dropped, capped_from)
    st["params"]["seed"] = args.seed
    (args.out / "stats.json").write_text(json.dumps(st, indent=2) + "\n")

    print(f"{'class':12s} {'pool':>7s} {'test':>6s} {'total':>7s} {'mean chars':>10s}")
    for lab, c in st["classes"].items():
        print(f"{lab:12s} {c['pool']:7d} {c['test']:6d} {c['total']:7d} {c['mean_chars']:10.0f}")
    print(f"{'all':12s} {st['pool']:7d} {st['test']:6d} {st['total']:7d} {st['mean_chars']:10.0f}")
    print(f"imbalance (largest / smallest class): {st['imbalance_ratio']}x; dropped: {dropped}")
    print(f"wrote {args.out}/pool.jsonl, test.jsonl, stats.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
