"""TRAK for the logistic-regression proxy: gradients against finite differences, the projection
(dimension, inner products, sparse = dense), the scores against the formula written out, the
ensemble average, and the sign on a planted mislabelled record."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from thresher.ops.model.proxy import fit_predict_many
from thresher.ops.model.trak import Projection, combine, margin_gradients, margins, trak_scores


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _fitted_proxy():
    """A logistic regression fitted on a tiny 3-class problem: its weights and some records."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)) + np.repeat(np.eye(3, 4) * 2, 10, axis=0)
    y = np.repeat(np.arange(3), 10)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    return model, x, y


def test_margin_gradient_of_the_fitted_proxy_matches_finite_differences():
    model, x, y = _fitted_proxy()
    w = np.hstack([model.coef_, model.intercept_[:, None]])  # (classes, features + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    probs = model.predict_proba(x)
    np.testing.assert_allclose(_softmax(xb @ w.T), probs, rtol=1e-10)
    a, q = margin_gradients(probs, y)
    for i in (0, 13, 27):
        analytic = np.outer(a[i], xb[i])  # d f_i / d W
        numeric = np.zeros_like(w)
        eps = 1e-6
        for idx in np.ndindex(*w.shape):
            up, down = w.copy(), w.copy()
            up[idx] += eps
            down[idx] -= eps
            f = [margins(xb[i:i + 1] @ v.T, y[i:i + 1])[0] for v in (up, down)]
            numeric[idx] = (f[0] - f[1]) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
        # TRAK's Q: the loss gradient is -(1 - p_y) times the margin's
        loss_grad = np.outer(probs[i] - np.eye(3)[y[i]], xb[i])
        np.testing.assert_allclose(loss_grad, -q[i] * analytic, atol=1e-12)


def test_margins_are_log_odds_of_the_label():
    z = np.log(np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]))
    np.testing.assert_allclose(margins(z, np.array([0, 2])), [np.log(0.7 / 0.3), 0.0], atol=1e-12)


@pytest.mark.parametrize("dim", [7, 10, 64, 101, 356])
def test_projection_dimension_is_honoured(dim):
    proj = Projection(features=50, classes=7, dim=dim, seed=3)
    assert not proj.exact and proj.out_dim == dim
    x = np.random.default_rng(0).normal(size=(5, 50))
    g = proj.gradients(proj.features_of(x), np.ones((5, 7)))
    assert g.shape == (5, dim)
    assert sum(b.stop - b.start for b, _ in proj.blocks()) == dim


def test_no_projection_when_the_gradient_is_smaller():
    proj = Projection(features=4, classes=3, dim=2048)
    assert proj.exact and proj.out_dim == 15
    x = np.arange(8.0).reshape(2, 4)
    a = np.array([[1.0, -0.5, -0.5], [0.2, 1.0, -1.2]])
    g = proj.gradients(proj.features_of(x), a)
    np.testing.assert_allclose(g, [np.kron(a[i], np.r_[x[i], 1.0]) for i in range(2)], rtol=1e-6)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_projection_preserves_inner_products_on_average(kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 30))
    a = rng.normal(size=(2, 4))
    exact = Projection(30, 4, 10**6)
    g = exact.gradients(exact.features_of(x), a)
    want = float(g[0] @ g[1])
    got = []
    for seed in range(300):
        proj = Projection(30, 4, 40, kind, seed)
        p = proj.gradients(proj.features_of(x), a)
        got.append(float(p[0] @ p[1]))
    assert abs(np.mean(got) - want) < 4 * np.std(got) / np.sqrt(len(got)), (np.mean(got), want)


def test_projection_is_seeded_and_the_same_for_sparse_and_dense_rows():
    rng = np.random.default_rng(2)
    dense = np.where(rng.random((6, 20000)) < 0.01, rng.random((6, 20000)), 0.0)
    proj = Projection(20000, 3, 48, "rademacher", seed=5)
    u = proj.features_of(dense)
    np.testing.assert_allclose(proj.features_of(sp.csr_matrix(dense)), u, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.vstack([proj.features_of(dense[:2]), proj.features_of(dense[2:])]), u, rtol=1e-6)
    assert not np.allclose(Projection(20000, 3, 48, "rademacher", seed=6).features_of(dense), u)


def _blobs(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, 5)) * 0.8 + np.eye(3, 5)[y] * 2.5
    return x, y


def test_exact_scores_equal_the_formula_written_out(tmp_path):
    x, y = _blobs()
    xt, yt = _blobs(1, 12)
    res = trak_scores(x, y, xt, yt, 3, ensemble=2, subset=0.5, proj_dim=10**6, damping=0.3, seed=4,
                      work_dir=tmp_path)
    assert (tmp_path / "u_train.npy").exists() and np.load(tmp_path / "u_train.npy").shape == (60, 6)
    want_raw, want_q = [], []
    for member in range(2):
        rng = np.random.default_rng([4, 1, member])
        rows = np.sort(rng.choice(60, size=30, replace=False))
        (p, _), (pt, _) = fit_predict_many(x[rows], y[rows], [x, xt], 3, seed=4 + member)
        a, q = margin_gradients(p, y)
        at, _ = margin_gradients(pt, yt)
        g = np.array([np.kron(a[i], np.r_[x[i], 1]) for i in range(60)])
        gt = np.array([np.kron(at[i], np.r_[xt[i], 1]) for i in range(12)])
        want_raw.append(g @ np.linalg.solve(g.T @ g + 0.3 * np.eye(18), gt.sum(axis=0)))
        want_q.append(q)
    np.testing.assert_allclose(res.raw, want_raw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.scores(), np.mean(want_raw, 0) * np.mean(want_q, 0), rtol=1e-4, atol=1e-6)


def test_ensemble_average_and_members(tmp_path):
    x, y = _blobs()
    xt, yt = _blobs(1, 12)
    three = trak_scores(x, y, xt, yt, 3, ensemble=3, proj_dim=9, seed=0, work_dir=tmp_path)
    one = trak_scores(x, y, xt, yt, 3, ensemble=1, proj_dim=9, seed=0, work_dir=tmp_path)
    np.testing.assert_array_equal(one.raw[0], three.raw[0])  # member m does not depend on the ensemble size
    assert not np.allclose(three.raw[0], three.raw[1])  # other subsets, other proxies
    np.testing.assert_allclose(three.scores(), np.mean(three.raw, 0) * np.mean(three.q, 0))
    np.testing.assert_allclose(three.scores(1), one.scores())
    per_target = trak_scores(x, y, xt, yt, 3, ensemble=3, proj_dim=9, seed=0, work_dir=tmp_path, per_target=True)
    assert per_target.scores().shape == (60, 12)
    np.testing.assert_allclose(per_target.scores().sum(axis=1), three.scores(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(combine(per_target.raw, per_target.q), per_target.scores())


def test_a_planted_mislabelled_record_is_the_most_harmful(tmp_path):
    x, y = _blobs(0, 90)
    y = y.copy()
    y[7] = (y[7] + 1) % 3  # a record of class 1 labelled 2
    xt, yt = _blobs(5, 30)
    res = trak_scores(x, y, xt, yt, 3, ensemble=3, seed=0, work_dir=tmp_path)
    scores = res.scores()
    assert int(np.argmin(scores)) == 7 and scores[7] < 0
    assert np.median(scores) > 0
