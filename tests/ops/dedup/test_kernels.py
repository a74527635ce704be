"""The compiled MinHash loops against plain numpy/Python twins."""

import numpy as np

from thresher.ops.dedup.kernels import jaccard_sorted, minhash_into
from thresher.ops.dedup.lsh import permutations


def test_minhash_into_matches_numpy():
    rng = np.random.default_rng(1)
    shingles = rng.integers(0, 2**63, size=500, dtype=np.uint64) * np.uint64(2)
    owner = np.sort(rng.integers(0, 7, size=500)).astype(np.int64)
    a, b = permutations(64, seed=3)
    out = np.full((7, 64), 0xFFFFFFFF, dtype=np.uint32)
    minhash_into(shingles, owner, a, b, out)
    with np.errstate(over="ignore"):
        values = ((shingles[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
    for doc in range(7):
        mine = values[owner == doc]
        expected = mine.min(axis=0) if len(mine) else np.full(64, 0xFFFFFFFF, np.uint32)
        assert np.array_equal(out[doc], expected)


def test_jaccard_sorted_matches_sets():
    rng = np.random.default_rng(2)
    sets = [np.unique(rng.integers(0, 40, size=rng.integers(0, 30))).astype(np.uint64) for _ in range(12)]
    values = np.concatenate(sets)
    starts = np.r_[0, np.cumsum([len(s) for s in sets])].astype(np.int64)
    u, v = np.array([0, 1, 2, 3, 5, 7, 11], np.int64), np.array([1, 2, 3, 4, 6, 8, 11], np.int64)
    out = np.zeros(len(u))
    jaccard_sorted(values, starts, u, v, out)
    for k, (i, j) in enumerate(zip(u, v)):
        x, y = set(sets[i].tolist()), set(sets[j].tolist())
        expected = len(x & y) / len(x | y) if x | y else 0.0
        assert out[k] == expected


def test_partitions_in_files_read_back_as_in_memory(tmp_path):
    from thresher.ops.dedup.spill import Partitions

    rng = np.random.default_rng(4)
    memory, disk = (Partitions(5, (np.uint64, np.int64), d) for d in (None, tmp_path / "p"))
    for _ in range(3):
        keys, docs = rng.integers(0, 2**63, 100, dtype=np.uint64), rng.integers(0, 1000, 100)
        for p in (memory, disk):
            p.append((keys % np.uint64(5)).astype(np.int64), keys, docs)
    for k in range(5):
        a, b = memory.read(k), disk.read(k)
        assert all(np.array_equal(x, y) for x, y in zip(a, b)) and (a[0] % np.uint64(5) == k).all()
    disk.close()
    assert not (tmp_path / "p").exists()


def test_clusters_compressing_links_keeps_components():
    from thresher.ops.dedup.lsh import components
    from thresher.ops.dedup.spill import Clusters

    rng = np.random.default_rng(5)
    u, v = rng.integers(0, 300, 400), rng.integers(0, 300, 400)
    clusters = Clusters(300, max_links=7)  # compresses on nearly every batch
    for lo in range(0, 400, 10):
        clusters.add(u[lo:lo + 10], v[lo:lo + 10])
    assert np.array_equal(clusters.labels(), components(300, u, v))


def test_signature_store_on_disk_reads_rows(tmp_path):
    from thresher.ops.dedup.spill import SignatureStore

    rows = np.arange(60, dtype=np.uint32).reshape(20, 3)
    disk = SignatureStore(20, 3, np.uint32, tmp_path)
    disk.write(0, rows[:7])
    disk.write(7, rows[7:])
    index = np.array([19, 0, 5, 5])
    assert np.array_equal(disk.rows(index), rows[index])
    assert np.array_equal(disk.agreement(np.array([1, 2]), np.array([1, 3])), [1.0, 0.0])


def test_word_shingle_kernel_has_the_words_of_the_normalized_text():
    """On the multilingual sample, the compiled shingles (ASCII texts not normalized first) group
    exactly like n-grams of the whitespace words of ``normalize_for_shingles``."""
    import gzip
    import json

    import pyarrow as pa

    from conftest import SAMPLE
    from thresher.ops.dedup import lsh
    from thresher.ops.text.ngrams import tokenize

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        texts = pa.array([json.loads(line)["text"] for line in src][:4000] + [
            "", "  ", "ONE", "Ünïcode ÉTÉ, été!", "emoji 😀 text x", "𝐀𝐁𝐂 math 𝟙 a—b ½ ﬁne",
            "日本語のテキスト、句読点。"])
    for n in (1, 3, 5):
        tok = tokenize(lsh.normalize_for_shingles(texts))
        counts = np.bincount(tok.doc, minlength=tok.n_docs)
        expected, owner = lsh._shingles(tok, counts, np.concatenate([[0], np.cumsum(counts)[:-1]]), n)
        hashes, owners, n_docs = lsh.shingle_hashes(texts, n)
        assert n_docs == len(texts) and np.array_equal(owners, owner)
        pairs = np.unique(np.stack([expected, hashes], axis=1), axis=0)
        assert len(pairs) == len(np.unique(expected)) == len(np.unique(hashes))  # a one-to-one renaming


def _bucket_edges_twin(keys, docs):
    """Star links from the smallest document of each bucket, by an argsort of the keys."""
    links = set()
    for key in np.unique(keys):
        members = docs[keys == key]
        links.update((int(members.min()), int(d)) for d in members if d != members.min())
    pairs = sorted(links)
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def test_bucket_edges_matches_twin_also_when_keys_share_their_high_bits():
    from thresher.ops.dedup.lsh import bucket_edges

    rng = np.random.default_rng(6)
    bases = rng.integers(0, 2**62, 6, dtype=np.uint64)
    for n in (1, 2, 37, 1000):
        # keys differing only in their low bits fall in one packed group, which must be split by key
        keys = bases[rng.integers(0, 6, n)] + rng.integers(0, 3, n).astype(np.uint64)
        docs = rng.integers(0, 400, n)
        expected = _bucket_edges_twin(keys, docs)
        got = bucket_edges(keys, docs)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))
        shuffled = rng.permutation(n)
        again = bucket_edges(keys[shuffled], docs[shuffled])
        assert all(np.array_equal(a, b) for a, b in zip(again, expected))


def test_band_keys_match_numpy_twin():
    from thresher.ops.dedup.lsh import band_keys
    from thresher.ops.text.ngrams import mix64

    rng = np.random.default_rng(7)
    for dtype in (np.uint32, np.uint64):
        sigs = rng.integers(0, np.iinfo(dtype).max, size=(50, 128), dtype=dtype)
        for bands, rows in ((18, 6), (8, 16), (1, 1)):
            band = np.arange(bands, dtype=np.uint64)
            keys = np.broadcast_to(mix64(band + np.uint64(1)), (len(sigs), bands)).copy()
            with np.errstate(over="ignore"):
                for r in range(rows):
                    keys = keys * np.uint64(0x9E3779B97F4A7C15) + sigs[:, r:bands * rows:rows].astype(np.uint64) \
                        + np.uint64(r + 1)
            expected = (mix64(keys) >> np.uint64(10)) | (band << np.uint64(54))
            assert np.array_equal(band_keys(sigs, bands, rows), expected)
