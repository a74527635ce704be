#!/usr/bin/env python3
"""Fuzzy-dedup benchmark corpora: real documents, natural duplicates removed, near-duplicates
and exact copies injected with recorded ground truth.

    # N real base documents (bench/corpus.py's selection: every source, long documents split
    # into paragraph groups of the largest chunk size that reaches N, a seeded random N kept,
    # shuffled), natural duplicates removed, then ~17% of the base chosen as originals, each
    # copied 1-3 times (exact copies and near-duplicates of several kinds and strengths)
    python bench/dedup_corpus.py build --base 200000 --out bench/.data/dedup200k

    # a smaller point of the growth curve: base documents taken in file order, each with all
    # its copies, until N documents (truth restricted to them); or a larger one: the corpus
    # itself (ids unchanged), then rounds of it reshuffled with 3 random word edits per
    # document (ids "r<round>/<id>"; no truth)
    python bench/dedup_corpus.py scale --from bench/.data/dedup200k --n 50000 --out bench/.data/dedup50k
    python bench/dedup_corpus.py scale --from bench/.data/dedup200k --n 1000000 --out bench/.data/dedup1m

Output directory: ``corpus.jsonl`` (``{"id", "text"}`` per line, duplicates shuffled away from
their originals), ``truth.jsonl`` (one line per injected document: ``{"id": "dup/17", "dup_of":
ORIGINAL_ID, "jaccard": 0.83, "kind": "delete", "strength": 0.1}``) and ``stats.json``.

**Similarity** is the Jaccard similarity of ``shingles(text)``: the text normalized as by
thresher's ``normalize_for_shingles`` (NFKC, lowercase, every character that is not a letter,
digit or whitespace turned into a space), split on whitespace, word 5-grams joined by a space;
a document of 1-4 words has one shingle, all its words; an empty one has none. This is the
shingling of thresher's ``dedup_minhash`` and the one the rensa and datasketch runners of
``bench/dedup_peers.py`` are fed.

**Natural duplicates** are removed from the base first, so that the truth is complete: a
document whose normalized text equals an earlier one's, or whose exact Jaccard with an earlier
kept document is >= 0.5 (candidates from a MinHash LSH of 40 bands x 3 rows, which finds a
pair of Jaccard 0.5 with probability 0.995, each candidate verified exactly). Short documents
stay: they are real.

**Injected copies** (kinds): ``exact`` (byte-identical), ``case``, ``whitespace``, ``punct``
(ASCII case, whitespace or ASCII punctuation changed: identical shingles, Jaccard 1.0), and
near-duplicates: ``delete``, ``insert`` (words of other documents), ``substitute``, ``swap``
(adjacent words), ``span_delete``, ``span_dup`` (a run of words deleted or repeated),
``prefix``, ``suffix`` (a run of words of another, 3x longer, document added, boilerplate-like)
and ``truncate``. A quarter of the copies are exact kinds (all copies of a document of fewer
than 10 words); for a near-duplicate a target Jaccard is drawn (15% in [0.3, 0.7), 70% in
[0.7, 0.95), 15% in [0.95, 1)), kinds are tried in a random order with the edit size that
should reach the target for the document's length, and the first within 0.05 of it (else
the closest) is kept; its *exact* Jaccard is recorded. ``strength`` is the fraction of the
original's words edited (deleted, inserted, replaced, swapped; the span's length for span
kinds, the appended words for prefix/suffix, the cut words for truncate).

Deterministic: fixed seeds, sorted iteration. Takes a few minutes for 200k documents.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  bench/corpus.py: the real documents and their chunking
from common import log  # noqa: E402

__all__ = ["NGRAM", "shingles", "shingles_many", "words_many", "jaccard", "read_corpus", "read_truth"]

NGRAM = 5
SEED = corpus.SEED
#: bench/corpus.py's chunk sizes, continued: 200k pieces need paragraph groups of <= 200 chars.
CHUNK_SIZES = [*corpus.CHUNK_SIZES, 250, 200, 150, 100]

NATURAL_MAX_JACCARD = 0.5  # base documents this similar to an earlier kept one are dropped
LSH_BANDS, LSH_ROWS = 40, 3  # for finding them: P(candidate | J=0.5) = 1 - (1 - 0.5**3)**40 = 0.995

EXACT_KINDS = {"exact": 0.4, "case": 0.2, "whitespace": 0.2, "punct": 0.2}
NEAR_KINDS = ("delete", "insert", "substitute", "swap", "span_delete", "span_dup", "prefix", "suffix", "truncate")
P_EXACT = 0.25  # share of copies of an exact kind
NEAR_MIN_WORDS = 10  # shorter originals get exact kinds only
COPIES = {1: 0.55, 2: 0.30, 3: 0.15}  # copies per original
TARGETS = ((0.15, 0.30, 0.70), (0.70, 0.70, 0.95), (0.15, 0.95, 1.0))  # (share, low, high) of target Jaccard
TOLERANCE = 0.05
TRIES = 5


# ------------------------------------------------------------------------------------ shingles

def normalize_for_shingles(texts: pa.Array) -> pa.Array:
    """``thresher.ops.dedup.lsh.normalize_for_shingles`` (NFKC, lowercase, runs of characters
    that are not letters, digits or whitespace to one space), replicated so that the peers'
    processes need not import thresher's dedup module (it loads numba, which would count in their
    time and memory); ``check_normalization`` compares the two on real text."""
    texts = pc.utf8_normalize(texts.fill_null(""), form="NFKC")
    return pc.replace_substring_regex(pc.utf8_lower(texts), pattern=r"[^\pL\pN\s]+", replacement=" ")


def check_normalization(texts: list[str], batch: int = 20_000) -> None:
    """Raise if thresher's shingle normalization no longer equals ours on ``texts``."""
    from thresher.ops.dedup.lsh import normalize_for_shingles as theirs

    for lo in range(0, len(texts), batch):
        arr = pa.array(texts[lo:lo + batch], pa.large_string())
        if not normalize_for_shingles(arr).equals(theirs(arr)):
            raise SystemExit("bench/dedup_corpus.py: normalize_for_shingles differs from thresher's "
                             "(thresher.ops.dedup.lsh); update the copy here and rebuild the corpora")


def words_many(texts: list[str], batch: int = 20_000) -> list[list[str]]:
    """Each text's words after ``normalize_for_shingles``, split on whitespace (Arrow's
    ``utf8_split_whitespace``, as thresher tokenizes)."""
    out: list[list[str]] = []
    for lo in range(0, len(texts), batch):
        normalized = normalize_for_shingles(pa.array(texts[lo:lo + batch], pa.large_string()))
        for ws in pc.utf8_split_whitespace(normalized).to_pylist():
            out.append([w for w in ws if w])
    return out


def shingles_of_words(words: list[str], n: int = NGRAM) -> set[str]:
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def shingles(text: str) -> set[str]:
    """The word 5-gram shingles of ``text`` (see the module doc): what "true Jaccard" is of."""
    return shingles_of_words(words_many([text])[0])


def shingles_many(texts: list[str]) -> list[set[str]]:
    """``[shingles(t) for t in texts]``, normalizing in batches."""
    return [shingles_of_words(w) for w in words_many(texts)]


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


# ------------------------------------------------------------------------------------------ io

def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
    return ids, texts


def read_truth(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def histogram(values: list[float], width: float = 0.05) -> dict[str, int]:
    """Counts per bin ``[lo, lo+width)`` from 0 to 1, the last bin ``1.0`` (exactly)."""
    bins = collections.Counter()
    for v in values:
        bins["1.00" if v >= 1.0 else f"{int(v / width) * width:.2f}"] += 1
    return dict(sorted(bins.items()))


def truth_stats(truth: list[dict]) -> dict:
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    for t in truth:
        by_kind[t["kind"]].append(t["jaccard"])
    js = [t["jaccard"] for t in truth]
    return {
        "injected": len(truth),
        "originals": len({t["dup_of"] for t in truth}),
        "jaccard_ge_0.8": sum(j >= 0.8 for j in js),
        "jaccard_lt_0.5": sum(j < 0.5 for j in js),
        "per_kind": {k: {"count": len(v), "mean_jaccard": round(sum(v) / len(v), 4),
                         "min_jaccard": round(min(v), 4), "ge_0.8": sum(j >= 0.8 for j in v)}
                     for k, v in sorted(by_kind.items())},
        "jaccard_histogram": histogram(js),
    }


# ----------------------------------------------------------------------------- base documents

def base_documents(n: int, seed: int = SEED, chunk_chars: int = 0) -> tuple[list[dict], int]:
    """``bench/corpus.py docs --n N`` (same selection and order), with CHUNK_SIZES continued
    below 300 chars so that 200k documents can be reached. Returns the documents and the chunk
    size used."""
    docs = corpus.all_documents()
    for chunk in [chunk_chars] if chunk_chars else CHUNK_SIZES:
        pieces = [c for d in docs for c in corpus.split_paragraphs(d, chunk)]
        if len(pieces) >= n:
            break
    log(f"{len(docs)} whole documents -> {len(pieces)} pieces at chunk size {chunk} chars")
    rng = random.Random(seed)
    if len(pieces) >= n:
        keep = sorted(rng.sample(range(len(pieces)), n))
        out = [pieces[i] for i in keep]
    else:
        log(f"WARNING: only {len(pieces)} documents available, fewer than {n}")
        out = pieces
    rng.shuffle(out)
    return out, chunk


def _minhash(hashes: list[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """``(len(hashes), num_perm)`` uint32 MinHash signatures of non-empty uint64 shingle-hash arrays."""
    lengths = np.array([len(h) for h in hashes])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    flat = np.concatenate(hashes)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    sig = np.empty((len(hashes), num_perm), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for p in range(num_perm):
            values = ((flat * a[p] + b[p]) >> np.uint64(32)).astype(np.uint32)
            sig[:, p] = np.minimum.reduceat(values, starts)
    return sig


def _candidate_pairs(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Unique pairs ``(i, j)``, i < j (row indices of ``sig``), sharing a band."""
    codes = []
    n = len(sig)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.zeros(n, dtype=np.uint64)
            for r in range(rows):
                key = key * np.uint64(0x9E3779B97F4A7C15) + sig[:, band * rows + r].astype(np.uint64) + np.uint64(1)
            order = np.argsort(key, kind="stable")
            sk = key[order]
            bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
            multi = np.flatnonzero(np.diff(bounds) >= 2)
            for s, e in zip(bounds[multi].tolist(), bounds[multi + 1].tolist()):
                members = np.sort(order[s:e])
                ii, jj = np.triu_indices(len(members), k=1)
                codes.append(members[ii].astype(np.int64) * n + members[jj])
    if not codes:
        return np.empty((0, 2), np.int64)
    u = np.unique(np.concatenate(codes))
    return np.stack([u // n, u % n], axis=1)


def remove_natural_duplicates(docs: list[dict], words: list[list[str]]) -> tuple[list[int], dict]:
    """Indices of the documents to keep (in order) and what was dropped (see the module doc)."""
    n = len(docs)
    first: dict[str, int] = {}
    exact = []
    for i, ws in enumerate(words):
        key = " ".join(ws)
        if key in first:
            exact.append(i)
        else:
            first[key] = i
    exact_set = set(exact)
    idx = [i for i in range(n) if i not in exact_set and words[i]]
    log(f"natural duplicates: {len(exact)} exact (normalized text); MinHash LSH over {len(idx)} documents")
    hashes = [np.fromiter((xxhash.xxh3_64_intdigest(s.encode("utf-8")) for s in sorted(shingles_of_words(words[i]))),
                          dtype=np.uint64) for i in idx]
    sig = _minhash(hashes, LSH_BANDS * LSH_ROWS, SEED)
    del hashes
    pairs = _candidate_pairs(sig, LSH_BANDS, LSH_ROWS)
    log(f"  {len(pairs)} candidate pairs")
    earlier: dict[int, list[int]] = collections.defaultdict(list)
    for a, b in pairs.tolist():
        earlier[idx[b]].append(idx[a])
    cache: dict[int, set[str]] = {}

    def sh(i: int) -> set[str]:
        if i not in cache:
            cache[i] = shingles_of_words(words[i])
        return cache[i]

    dropped: set[int] = set(exact)
    near = []
    verified = 0
    for j in sorted(earlier):
        for i in sorted(earlier[j]):
            if i in dropped:
                continue
            verified += 1
            sim = jaccard(sh(i), sh(j))
            if sim >= NATURAL_MAX_JACCARD:
                dropped.add(j)
                near.append(sim)
                break
    keep = [i for i in range(n) if i not in dropped]
    by_source = collections.Counter(docs[i]["id"].split("/")[0] for i in dropped)
    stats = {"sampled": n, "dropped_exact": len(exact), "dropped_near": len(near),
             "dropped_near_jaccard_histogram": histogram(near, 0.1), "kept": len(keep),
             "lsh": f"{LSH_BANDS} bands x {LSH_ROWS} rows", "candidate_pairs": len(pairs), "verified_pairs": verified,
             "dropped_by_source": dict(by_source.most_common())}
    log(f"  dropped {len(exact)} exact + {len(near)} near (Jaccard >= {NATURAL_MAX_JACCARD}) duplicates; "
        f"{len(keep)} kept")
    return keep, stats


# ------------------------------------------------------------------------------------- editing

TOKEN = re.compile(r"(\S+)(\s*)")
ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
SWAPCASE = str.maketrans("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def tokens(text: str) -> tuple[str, list[list[str]]]:
    """Leading whitespace and ``[word, whitespace after it]`` pairs: ``render`` gives the text back."""
    lead = text[: len(text) - len(text.lstrip())]
    return lead, [[m.group(1), m.group(2)] for m in TOKEN.finditer(text)]


def render(lead: str, toks: list[list[str]]) -> str:
    last = len(toks) - 1
    return lead + "".join(w + (s if s or i == last else " ") for i, (w, s) in enumerate(toks))


class Donors:
    """Words and runs of words of the base documents, for insertions and prefixes/suffixes."""

    def __init__(self, texts: list[str]):
        self.toks = [tokens(t)[1] for t in texts]
        order = sorted(range(len(texts)), key=lambda i: (len(self.toks[i]), i))
        self.by_len = order
        self.lengths = [len(self.toks[i]) for i in order]
        self.nonempty = [i for i in range(len(texts)) if self.toks[i]]

    def word(self, rng: random.Random) -> str:
        t = self.toks[rng.choice(self.nonempty)]
        return t[rng.randrange(len(t))][0]

    def span(self, rng: random.Random, length: int) -> tuple[list[list[str]], int]:
        """``length`` consecutive tokens of a random document at least 3x as long (fewer if none is)."""
        length = max(1, min(length, self.lengths[-1] // 3))
        lo = bisect.bisect_left(self.lengths, 3 * length)
        donor = self.by_len[rng.randrange(lo, len(self.by_len))]
        t = self.toks[donor]
        start = rng.randrange(len(t) - length + 1)
        return [list(x) for x in t[start:start + length]], donor


def exact_copy(kind: str, text: str, rng: random.Random) -> str:
    """A copy with the same shingles: byte-identical, or ASCII case / whitespace / punctuation changed."""
    if kind == "exact":
        return text
    lead, toks = tokens(text)
    if kind == "case":
        mode = rng.choice(("upper", "lower", "swap", "words"))
        if mode == "words":
            for t in toks:
                if rng.random() < 0.3:
                    t[0] = t[0].translate(UPPER if rng.random() < 0.5 else LOWER)
            out = render(lead, toks)
        else:
            out = text.translate({"upper": UPPER, "lower": LOWER, "swap": SWAPCASE}[mode])
    elif kind == "whitespace":
        mode = rng.choice(("flatten", "collapse", "double", "pad"))
        if mode == "flatten":
            out = lead + " ".join(w for w, _ in toks)
        elif mode == "collapse":
            out = re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()
        elif mode == "double":
            out = render(lead, [[w, s + " " if s and rng.random() < 0.3 else s] for w, s in toks])
        else:
            out = "\n" + text + "  \n"
    else:  # punct
        mode = rng.choice(("strip", "add", "replace"))
        if mode == "strip":
            for t in toks:
                if rng.random() < 0.5:
                    t[0] = t[0].strip(ASCII_PUNCT) or t[0]
            out = render(lead, toks)
        elif mode == "add":
            for t in toks:
                if rng.random() < 0.15:
                    t[0] += rng.choice(",.;:!?")
            out = render(lead, toks)
        else:
            out = "".join(rng.choice(ASCII_PUNCT) if c in ASCII_PUNCT and rng.random() < 0.5 else c for c in text)
    if out == text:  # nothing to change (e.g. no punctuation): pad with whitespace instead
        out = text + "\n"
    return out


def _count(shingle_units: float, n_tokens: int) -> int:
    return int(min(max(1, round(shingle_units)), max(1, n_tokens)))


def near_copy(kind: str, text: str, n_shingles: int, target: float, rng: random.Random,
              donors: Donors) -> tuple[str, float]:
    """An edited copy aimed at Jaccard ``target`` and the edit's strength (fraction of words)."""
    lead, toks = tokens(text)
    n, s, j = len(toks), n_shingles, target
    if kind == "delete":  # a deleted word: 5 shingles lost, 4 made
        k = min(_count(s * (1 - j) / (5 + 4 * j), n), n - 1)
        gone = set(rng.sample(range(n), k))
        toks = [t for i, t in enumerate(toks) if i not in gone]
    elif kind == "insert":  # 4 lost, 5 made
        k = _count(s * (1 - j) / (4 + 5 * j), n)
        for _ in range(k):
            toks.insert(rng.randrange(len(toks) + 1), [donors.word(rng), " "])
    elif kind == "substitute":  # 5 lost, 5 made
        k = _count(s * (1 - j) / (5 * (1 + j)), n)
        for i in rng.sample(range(n), k):
            toks[i][0] = donors.word(rng)
    elif kind == "swap":  # 6 lost, 6 made
        if n < 2:
            return text, 0.0
        k = _count(s * (1 - j) / (6 * (1 + j)), n - 1)
        for i in rng.sample(range(n - 1), k):
            toks[i][0], toks[i + 1][0] = toks[i + 1][0], toks[i][0]
    elif kind == "span_delete":  # in the middle: L + 4 lost, 4 made
        k = min(_count(s * (1 - j) - 4, n), n - 1)
        start = rng.randrange(n - k + 1)
        del toks[start:start + k]
    elif kind == "span_dup":  # only the junction is new: J ~ s / (s + 4), whatever the span
        k = rng.randint(1, max(1, n // 3))
        start = rng.randrange(n - k + 1)
        toks[start + k:start + k] = [list(t) for t in toks[start:start + k]]
        if not toks[start + k - 1][1]:
            toks[start + k - 1][1] = " "
    elif kind in ("prefix", "suffix"):  # L added at one end: J ~ s / (s + L)
        k = _count(s * (1 - j) / max(j, 0.5), n)
        span, _ = donors.span(rng, k)
        k = len(span)
        if kind == "prefix":
            span[-1][1] = "\n\n"
            toks = span + toks
        else:
            if toks:
                toks[-1][1] = "\n\n"
            span[-1][1] = ""
            toks = toks + span
    elif kind == "truncate":  # the last L words cut: L lost
        k = min(_count(s * (1 - j), n), n - 1)
        toks = toks[: n - k]
    else:
        raise ValueError(kind)
    return render(lead, toks), round(k / max(n, 1), 4)


def draw_target(rng: random.Random) -> float:
    """A target Jaccard for a near-duplicate, from the mixture TARGETS."""
    u = rng.random()
    for share, low, high in TARGETS[:-1]:
        if u < share:
            return rng.uniform(low, high)
        u -= share
    return rng.uniform(*TARGETS[-1][1:])


def inject(base: list[dict], words: list[list[str]], frac: float, seed: int) -> tuple[list[dict], list[dict]]:
    """The injected documents and their truth rows. Every candidate copy is made first (one
    for an exact kind, TRIES for a near-duplicate), then all are shingled in batches (one
    Arrow call per text would cost milliseconds) and the first near enough to its target kept."""
    rng = random.Random(seed)
    texts = [d["text"] for d in base]
    donors = Donors(texts)
    eligible = [i for i, w in enumerate(words) if w]
    originals = sorted(rng.sample(eligible, round(frac * len(base))))
    counts, weights = list(COPIES), list(COPIES.values())
    plans = []  # (original index, target or None, [(kind, text, strength), ...])
    for i in originals:
        n_shingles = len(shingles_of_words(words[i]))
        for _ in range(rng.choices(counts, weights)[0]):
            if len(words[i]) < NEAR_MIN_WORDS or rng.random() < P_EXACT:
                kind = rng.choices(list(EXACT_KINDS), list(EXACT_KINDS.values()))[0]
                plans.append((i, None, [(kind, exact_copy(kind, texts[i], rng), 0.0)]))
                continue
            target = draw_target(rng)
            plans.append((i, target, [(kind, *near_copy(kind, texts[i], n_shingles, target, rng, donors))
                                      for kind in rng.sample(NEAR_KINDS, TRIES)]))
    log(f"  {len(plans)} copies of {len(originals)} originals planned; measuring their Jaccard")
    dups, truth = [], []
    step = 4000
    for lo in range(0, len(plans), step):
        chunk = plans[lo:lo + step]
        cand = shingles_many([text for _, _, tries in chunk for _, text, _ in tries])
        orig = shingles_many([texts[i] for i, _, _ in chunk])
        k = 0
        for (i, target, tries), o in zip(chunk, orig):
            sims = [jaccard(o, c) for c in cand[k:k + len(tries)]]
            k += len(tries)
            if target is None:
                (kind, text, strength), sim = tries[0], sims[0]
                if sim < 1.0:  # should not happen; keep the truth exact anyway
                    kind, text, sim = "exact", texts[i], 1.0
                best = (0.0, kind, text, strength, sim)
            else:
                best = None
                for (kind, text, strength), sim in zip(tries, sims):
                    if best is None or abs(sim - target) < best[0]:
                        best = (abs(sim - target), kind, text, strength, sim)
                    if best[0] <= TOLERANCE:
                        break
            _, kind, text, strength, sim = best
            dup_id = f"dup/{len(dups)}"
            dups.append({"id": dup_id, "text": text})
            truth.append({"id": dup_id, "dup_of": base[i]["id"], "jaccard": round(sim, 4), "kind": kind,
                          "strength": strength})
    return dups, truth


# -------------------------------------------------------------------------------------- build

def cmd_build(args) -> int:
    t0 = time.time()
    docs, chunk = base_documents(args.base, args.seed, args.chunk_chars)
    check_normalization([d["text"] for d in docs])
    words = words_many([d["text"] for d in docs])
    keep, natural = remove_natural_duplicates(docs, words)
    base = [docs[i] for i in keep]
    base_words = [words[i] for i in keep]
    del docs, words
    log(f"injecting copies of {args.originals:.0%} of {len(base)} base documents")
    dups, truth = inject(base, base_words, args.originals, args.seed + 1)
    rows = [{"id": d["id"], "text": d["text"]} for d in base] + dups
    random.Random(args.seed + 2).shuffle(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "corpus.jsonl", rows)
    write_jsonl(args.out / "truth.jsonl", truth)
    n_words = [len(w) for w in base_words]
    stats = {
        "command": "python bench/dedup_corpus.py " + " ".join(sys.argv[1:]),
        "seed": args.seed, "documents": len(rows), "base_requested": args.base, "chunk_chars": chunk,
        "base": {**natural, "words_per_doc_quantiles": {q: int(np.quantile(n_words, q)) for q in
                                                        (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)},
                 "short_lt_5_words": sum(n < NGRAM for n in n_words)},
        "truth": truth_stats(truth),
        "seconds": round(time.time() - t0, 1),
    }
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log(f"wrote {len(rows)} documents ({len(base)} base + {len(dups)} injected) to {args.out} "
        f"in {stats['seconds']:.0f}s")
    print(json.dumps(stats["truth"], indent=2))
    return 0


# -------------------------------------------------------------------------------------- scale

def perturb(text: str, edits: int, rng: random.Random, donors: Donors) -> str:
    """``edits`` random word edits: a deletion, a substitution or an adjacent swap each."""
    lead, toks = tokens(text)
    for _ in range(edits):
        if len(toks) < 2:
            break
        i = rng.randrange(len(toks) - 1)
        op = rng.randrange(3)
        if op == 0:
            del toks[i]
        elif op == 1:
            toks[i][0] = donors.word(rng)
        else:
            toks[i][0], toks[i + 1][0] = toks[i + 1][0], toks[i][0]
    return render(lead, toks)


def cmd_scale(args) -> int:
    t0 = time.time()
    src = args.source
    ids, texts = read_corpus(src / "corpus.jsonl")
    truth = read_truth(src / "truth.jsonl") if (src / "truth.jsonl").exists() else []
    args.out.mkdir(parents=True, exist_ok=True)
    stats = {"command": "python bench/dedup_corpus.py " + " ".join(sys.argv[1:]), "source": str(src),
             "documents": args.n}
    if args.n <= len(ids):
        # base documents in file order (a random order), each with all its copies, until n
        group_of = {t["id"]: t["dup_of"] for t in truth}
        members = collections.defaultdict(list)
        for i, doc_id in enumerate(ids):
            members[group_of.get(doc_id, doc_id)].append(i)
        chosen: set[int] = set()
        for doc_id in ids:
            if len(chosen) == args.n:
                break
            group = members[doc_id] if doc_id not in group_of else []
            if group and len(chosen) + len(group) <= args.n:
                chosen.update(group)
        keep = sorted(chosen)
        write_jsonl(args.out / "corpus.jsonl", ({"id": ids[i], "text": texts[i]} for i in keep))
        kept_ids = {ids[i] for i in keep}
        sub = [t for t in truth if t["id"] in kept_ids]
        write_jsonl(args.out / "truth.jsonl", sub)
        stats.update(documents=len(keep), kind="subset (base documents in file order, each with its copies)",
                     truth=truth_stats(sub))
        log(f"wrote {len(keep)} of {len(ids)} documents and {len(sub)} truth rows to {args.out}")
    else:
        donors = Donors(texts)
        rng = random.Random(args.seed)
        n = 0
        rnd = 0
        with open(args.out / "corpus.jsonl", "w", encoding="utf-8") as f:
            while n < args.n:
                order = list(range(len(ids)))
                if rnd:
                    random.Random(args.seed * 1000 + rnd).shuffle(order)
                for i in order:
                    if n >= args.n:
                        break
                    if rnd == 0:
                        rec = {"id": ids[i], "text": texts[i]}
                    else:
                        rec = {"id": f"r{rnd}/{ids[i]}", "text": perturb(texts[i], args.edits, rng, donors)}
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += 1
                rnd += 1
        stats.update(kind=f"the source, then {rnd - 1} reshuffled round(s) with {args.edits} random word edits "
                          "per document (ids r<round>/<id>); no truth", rounds=rnd)
        log(f"wrote {n} documents ({rnd} rounds over {len(ids)}) to {args.out}")
        stale = args.out / "truth.jsonl"
        if stale.exists():
            stale.unlink()
    stats["seconds"] = round(time.time() - t0, 1)
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="base documents + injected duplicates with truth")
    b.add_argument("--base", type=int, default=200_000, help="real documents to sample before natural dedup")
    b.add_argument("--originals", type=float, default=0.17, help="share of base documents that get copies")
    b.add_argument("--chunk-chars", type=int, default=0, help="paragraph-group size (default: the largest of "
                   f"{CHUNK_SIZES[1:]} that reaches --base)")
    b.add_argument("--out", type=Path, default=corpus.DATA / "dedup200k")
    s = sub.add_parser("scale", help="a subset (--n below the source's size) or a perturbed repetition (above)")
    s.add_argument("--from", dest="source", type=Path, default=corpus.DATA / "dedup200k")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--edits", type=int, default=3, help="random word edits per repeated document")
    s.add_argument("--out", type=Path, required=True)
    for p in (b, s):
        p.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    return cmd_build(args) if args.cmd == "build" else cmd_scale(args)


if __name__ == "__main__":
    sys.exit(main())
