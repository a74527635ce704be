"""Confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70, Sec. 3): per-class thresholds, the confident joint,
its calibration, and pruning by noise rate; plus the label-quality scores used to rank issues.

All functions take out-of-sample predicted probabilities ``probs`` (n x K, rows sum to 1) and
given labels ``labels`` (ints in 0..K-1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["class_thresholds", "confident_joint", "calibrate", "prune_by_noise_rate", "find_label_issues",
           "self_confidence", "normalized_margin", "suggested_labels"]

_EPS = 1e-6


def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``t_j``: the mean predicted probability of class j over the records labelled j (Eq. 2);
    a class with no record gets 2 (never confident).

    >>> class_thresholds(np.array([[.9, .1], [.7, .3], [.2, .8]]), np.array([0, 0, 1])).tolist()
    [0.8, 0.8]
    """
    k = probs.shape[1]
    sums = np.zeros(k)
    np.add.at(sums, labels, probs[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=k)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 2.0)


def confident_joint(probs: np.ndarray, labels: np.ndarray,
                    thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``C[i, j]``: records labelled i whose probability of j reaches ``t_j`` (the most probable
    such j when several do), with at least 1 on the diagonal; and each record's confident
    class (-1 when no class reaches its threshold)."""
    k = probs.shape[1]
    t = class_thresholds(probs, labels) if thresholds is None else thresholds
    above = probs >= t - _EPS
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, probs.argmax(axis=1), above.argmax(axis=1))
    guess = np.where(n_above > 0, guess, -1)
    c = np.zeros((k, k), np.int64)
    sure = guess >= 0
    np.add.at(c, (labels[sure], guess[sure]), 1)
    np.fill_diagonal(c, np.maximum(c.diagonal(), 1))
    return c, guess


def _round_rows(x: np.ndarray) -> np.ndarray:
    """Round each row to integers that keep its rounded total: round, then move the entries
    that rounding lowered most up by one (or raised most, down), as cleanlab does."""
    out = np.empty(x.shape, np.int64)
    for r, row in enumerate(np.asarray(x, float)):
        ints = row.round()
        target = round(row.sum())
        while abs(ints.sum() - target) > 1e-6:
            diff = target - ints.sum()
            step = 1 if diff > 0 else -1
            changes = min(int(abs(diff)), len(row))
            for i in np.argsort(row - ints)[::-step][:changes]:
                ints[i] += step
        out[r] = ints
    return out


def calibrate(c: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Scale each row of the confident joint to its class's label count, then the whole to n
    (Eq. 3), as integer counts."""
    counts = np.bincount(labels, minlength=len(c))
    q = c / np.maximum(c.sum(axis=1, keepdims=True), 1e-100) * counts[:, None]
    q = q / max(q.sum(), 1e-100) * counts.sum()
    return _round_rows(q)


def _leave_at_least(prune: np.ndarray, n: int) -> np.ndarray:
    """``prune[j, i]`` (true j, given i): raise each diagonal to at least ``n`` and take what it
    gained evenly from that column's non-zero off-diagonal counts."""
    diag = prune.diagonal()
    new_diag = np.maximum(diag, n)
    spread = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    out = np.maximum(prune - (new_diag - diag) / spread, 0.0)
    np.fill_diagonal(out, new_diag)
    return _round_rows(out)


def prune_by_noise_rate(probs: np.ndarray, labels: np.ndarray, joint: np.ndarray,
                        min_per_class: int = 1) -> np.ndarray:
    """For every off-diagonal count ``C[i, j]`` (labelled i, truly j), flag the ``C[i, j]``
    records labelled i with the largest margin ``p_j - p_i`` (Sec. 3.2, "prune by noise rate")."""
    prune = _leave_at_least(joint.T.astype(float), min_per_class)  # [true j, given i]
    issues = np.zeros(len(labels), bool)
    for i in range(probs.shape[1]):
        members = np.flatnonzero(labels == i)
        if len(members) <= min_per_class:
            continue
        for j in range(probs.shape[1]):
            count = int(prune[j, i])
            if j != i and count > 0:
                margin = probs[members, j] - probs[members, i]
                issues[members[np.argsort(-margin, kind="stable")[:count]]] = True
    return issues


def find_label_issues(probs: np.ndarray, labels: np.ndarray, method: str = "prune_by_noise_rate") -> np.ndarray:
    """A mask of likely label errors. ``prune_by_noise_rate``: the calibrated confident joint
    says how many records of each (given, true) pair to flag, the largest margins are flagged;
    ``confident_joint``: records whose confident class differs from their label (C_confusion's
    off-diagonals, Sec. 3.2). Either way a record whose label is also the model's top prediction
    is never flagged."""
    joint, guess = confident_joint(probs, labels)
    if method == "prune_by_noise_rate":
        issues = prune_by_noise_rate(probs, labels, calibrate(joint, labels))
    else:
        issues = (guess >= 0) & (guess != labels)
    bumped = probs.copy()
    bumped[np.arange(len(labels)), labels] += _EPS
    issues &= bumped.argmax(axis=1) != labels
    return issues


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``p_label``: low means the model doubts the label."""
    return probs[np.arange(len(labels)), labels]


def normalized_margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(p_label - max_{j != label} p_j + 1) / 2`` in [0, 1]: low means likely mislabelled.

    >>> normalized_margin(np.array([[.7, .2, .1], [.1, .6, .3]]), np.array([0, 0])).round(2).tolist()
    [0.75, 0.25]
    """
    own = self_confidence(probs, labels)
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return (own - others.max(axis=1) + 1) / 2


def suggested_labels(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The most probable class other than the given one."""
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return others.argmax(axis=1)
