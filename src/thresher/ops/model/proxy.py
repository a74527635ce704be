"""The proxy model: logistic regression on embeddings or TF-IDF features, cross-fitted so that
every record is scored by a model that never saw it (K-fold, as confident learning requires:
Northcutt et al. 2021, Sec. 4), deterministic under the seed."""

from __future__ import annotations

import numpy as np

from ...errors import require

__all__ = ["tfidf_features", "cross_fit", "fit_predict", "fit_predict_many"]


def _sklearn():
    require("sklearn", "the proxy model needs scikit-learn: pip install 'thresher[embed]'")


def tfidf_features(texts: list[str], n_features: int = 2**18):
    """Hashed word unigrams and bigrams, TF-IDF weighted, L2-normalized (a sparse matrix):
    no vocabulary to store, the same columns for any corpus."""
    _sklearn()
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    counts = HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm=None,
                               lowercase=True).transform(texts)
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts)


def _one_blas_thread():
    """Small dense fits run faster on one BLAS thread than on several that fight (2x measured
    idle on 20k x 256, 30x beside another busy process)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _model(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


def cross_fit(x, y: np.ndarray, n_classes: int, *, folds: int = 5, seed: int = 0,
              c: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Out-of-fold class probabilities ``(n, n_classes)`` and logits (decision values) for
    every row, and the held-out accuracy. Folds are stratified by class under ``seed``; a
    class with fewer members than folds is spread over as many folds as it has."""
    _sklearn()
    from sklearn.model_selection import StratifiedKFold

    n = len(y)
    probs = np.zeros((n, n_classes))
    logits = np.zeros((n, n_classes))
    k = max(2, min(folds, n))
    smallest = np.bincount(y, minlength=n_classes)
    if (smallest[smallest > 0] < k).any():
        splits = _spread_folds(y, k, seed)
    else:
        splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n), y)
    for train, test in splits:
        p, z = fit_predict(x[train], y[train], x[test], n_classes, seed=seed, c=c)
        probs[test], logits[test] = p, z
    accuracy = float((probs.argmax(axis=1) == y).mean()) if n else 0.0
    return probs, logits, accuracy


def _spread_folds(y: np.ndarray, k: int, seed: int):
    """Folds where each class's members are dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold[members] = np.arange(len(members)) % k
    for f in range(k):
        yield np.flatnonzero(fold != f), np.flatnonzero(fold == f)


def fit_predict(x_train, y_train: np.ndarray, x_test, n_classes: int, *, seed: int = 0,
                c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Train on ``(x_train, y_train)``; probabilities and logits of ``x_test`` over all
    ``n_classes`` (a class absent from the training rows gets probability 0)."""
    return fit_predict_many(x_train, y_train, [x_test], n_classes, seed=seed, c=c)[0]


def fit_predict_many(x_train, y_train: np.ndarray, x_tests: list, n_classes: int, *, seed: int = 0,
                     c: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``fit_predict`` with one model for several test matrices: ``(probs, logits)`` of each."""
    present = np.unique(y_train)
    if len(present) == 1:  # one class: nothing to learn
        return [_constant(x.shape[0], n_classes, present[0]) for x in x_tests]
    out = []
    with _one_blas_thread():
        model = _model(c, seed).fit(x_train, y_train)
        for x_test in x_tests:
            probs = np.zeros((x_test.shape[0], n_classes))
            logits = np.full((x_test.shape[0], n_classes), -1e9)
            probs[:, model.classes_] = model.predict_proba(x_test)
            z = model.decision_function(x_test)
            if z.ndim == 1:  # binary: sklearn gives one margin z; as two logits, symmetric (-z/2, z/2)
                z = np.stack([-z / 2, z / 2], axis=1)
            logits[:, model.classes_] = z
            out.append((probs, logits))
    return out


def _constant(n: int, n_classes: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    probs = np.zeros((n, n_classes))
    logits = np.full((n, n_classes), -1e9)
    probs[:, label] = 1.0
    logits[:, label] = 0.0
    return probs, logits
