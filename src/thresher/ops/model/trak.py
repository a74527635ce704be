"""TRAK for the logistic-regression proxy (Park et al. 2023, "TRAK: Attributing Model Behavior
at Scale"): per-example gradients of the margin, a seeded random projection, the kernel
``Phi^T Phi`` accumulated chunk by chunk, and the scores of Algorithm 1, averaged over an
ensemble of proxies trained on random subsets.

For softmax regression ``p = softmax(W [x, 1])`` the gradient of TRAK's output function, the
margin ``f = log(p_y / (1 - p_y))`` (Sec. 3.3), is ``a ⊗ [x, 1]`` with ``a_j = (1[j = y] -
p_j) / (1 - p_y)``; the gradient of the loss is ``-(1 - p_y)`` times it, TRAK's ``Q`` term.
Because the gradient factors, so does the projection (as LoGra projects the gradients of a
linear layer, Choe et al. 2024): the features are projected once, ``u = [x, 1] B``, and each
proxy's projected gradient is ``u`` scaled per class block by ``a``; only ``u`` goes to disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .proxy import fit_predict_many

__all__ = ["margins", "margin_gradients", "Projection", "TrakResult", "trak_scores", "combine", "DAMPING"]

#: Rows of the projection matrix generated at a time (fixed: it is part of the matrix's definition).
_B_ROWS = 8192
#: The kernel's default ridge, times ``1 / C`` (the proxy's own L2 penalty on the summed loss).
#: Ten times that penalty: TRAK's kernel sums squared margin gradients, which are larger than
#: the loss curvature they stand in for (that weighs each record by ``p (1 - p)``, the margin
#: gradients do not). Chosen by the linear datamodeling score in
#: ``bench/influence.py``: 0.95 at 10/C, 0.85 at 1/C, 0.85-0.89 at 30/C (embeddings, 2,000
#: and 6,000 records).
DAMPING = 10.0


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """TRAK's output function ``f = z_y - logsumexp_{j != y} z_j = log(p_y / (1 - p_y))``.

    >>> margins(np.log(np.array([[0.5, 0.3, 0.2]])), np.array([0])).round(6).tolist()
    [0.0]
    """
    z = np.array(logits, dtype=np.float64)
    rows = np.arange(len(z))
    correct = z[rows, labels].copy()
    z[rows, labels] = -np.inf
    top = z.max(axis=1, keepdims=True)
    rest = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return correct - rest


def margin_gradients(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a, q)``: the margin's gradient with respect to the logits, ``a_j = (1[j = y] - p_j)
    / (1 - p_y)`` (the gradient with respect to the weights is ``a ⊗ [x, 1]``), and TRAK's
    ``Q`` term ``q = 1 - p_y``, clipped away from 0 (a record the proxy is sure of)."""
    rows = np.arange(len(labels))
    others = np.array(probs, dtype=np.float64)
    others[rows, labels] = 0.0
    q = np.clip(others.sum(axis=1), 1e-12, None)  # sum_{j != y} p_j: exact where 1 - p_y rounds to 0
    a = -others / q[:, None]
    a[rows, labels] = 1.0
    return a, q


@dataclass(frozen=True)
class Projection:
    """A seeded random projection of per-example gradients ``a ⊗ [x, 1]`` (``classes x
    (features + 1)`` values) to ``dim`` values: class ``j`` gets a block of ``dim // classes``
    (+1 for the first ``dim % classes``) columns, ``a_j [x, 1] B_j / sqrt(block)``, with
    independent Rademacher (+-1) or Gaussian ``B_j``, so that inner products are preserved in
    expectation. When ``dim`` is at least the gradient's size there is no projection (the exact
    gradients)."""

    features: int
    classes: int
    dim: int
    kind: str = "rademacher"
    seed: int = 0

    @property
    def exact(self) -> bool:
        return self.dim >= self.gradient_dim

    @property
    def gradient_dim(self) -> int:
        return self.classes * (self.features + 1)

    @property
    def out_dim(self) -> int:
        return self.gradient_dim if self.exact else self.dim

    @property
    def width(self) -> int:
        """Columns of the projected features ``u``."""
        return self.features + 1 if self.exact else self.dim

    def blocks(self) -> list[tuple[slice, float]]:
        """Per class: its columns of ``u`` and their scale."""
        if self.exact:
            return [(slice(0, self.width), 1.0)] * self.classes
        sizes = [self.dim // self.classes + (j < self.dim % self.classes) for j in range(self.classes)]
        ends = np.cumsum(sizes).tolist()
        return [(slice(e - s, e), 1.0 / math.sqrt(s)) for s, e in zip(sizes, ends)]

    def _b(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` (``lo`` a multiple of ``_B_ROWS``) of ``B``, ``(features + 1, dim)``:
        each block of ``_B_ROWS`` rows drawn from its own generator, so any slice is the same."""
        out = []
        for start in range(lo, hi, _B_ROWS):
            rows = min(_B_ROWS, self.features + 1 - start)
            rng = np.random.default_rng([self.seed, start // _B_ROWS])
            if self.kind == "gaussian":
                block = rng.standard_normal((rows, self.dim), dtype=np.float32)
            else:
                block = (rng.integers(0, 2, (rows, self.dim), dtype=np.int8) * 2 - 1).astype(np.float32)
            out.append(block[:min(rows, hi - start)])
        return np.concatenate(out) if len(out) > 1 else out[0]

    def features_of(self, x) -> np.ndarray:
        """``u = [x, 1] B`` (``[x, 1]`` itself when exact), float32, for a dense or sparse ``x``."""
        n = x.shape[0]
        sparse = hasattr(x, "toarray")
        if self.exact:
            dense = x.toarray() if sparse else np.asarray(x)
            return np.hstack([dense.astype(np.float32), np.ones((n, 1), np.float32)])
        x = x.tocsc() if sparse else np.asarray(x, np.float32)
        u = np.zeros((n, self.dim), np.float32)
        step = _B_ROWS * 4
        for lo in range(0, self.features, step):
            hi = min(lo + step, self.features)
            u += np.asarray(x[:, lo:hi] @ self._b(lo, hi), dtype=np.float32)
        u += self._b(self.features // _B_ROWS * _B_ROWS, self.features + 1)[-1]  # the bias row
        return u

    def gradients(self, u: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The projected gradients of the rows whose projected features are ``u`` and margin
        coefficients ``a``: ``(rows, out_dim)``."""
        out = np.empty((len(u), self.out_dim), np.float32)
        for j, (cols, scale) in enumerate(self.blocks()):
            target = slice(j * self.width, (j + 1) * self.width) if self.exact else cols
            out[:, target] = u[:, cols] * (a[:, j:j + 1] * scale).astype(np.float32)
        return out


def project_to_disk(proj: Projection, x, path: Path, chunk: int) -> np.ndarray:
    """``proj.features_of(x)`` written chunk by chunk to a memmap at ``path``; returns it
    opened read-only."""
    u = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(x.shape[0], proj.width))
    rows = max(chunk, (1 << 27) // (4 * proj.width))  # ~128 MiB of u at a time: B is drawn once per chunk
    for lo in range(0, x.shape[0], rows):
        u[lo:lo + rows] = proj.features_of(x[lo:lo + rows])
    u.flush()
    del u
    return np.load(path, mmap_mode="r")


@dataclass
class TrakResult:
    """Per ensemble member: the raw scores ``phi_i^T (K + lambda I)^{-1} sum_z phi_z`` (or
    per target, ``(n, targets)``) and ``q_i = 1 - p_i``; the proxies' accuracy on the targets."""

    raw: list[np.ndarray]
    q: list[np.ndarray]
    target_accuracy: list[float]
    projection: Projection
    damping: float

    def scores(self, members: int | None = None) -> np.ndarray:
        return combine(self.raw[:members], self.q[:members])


def combine(raw: list[np.ndarray], q: list[np.ndarray]) -> np.ndarray:
    """TRAK's ensemble (Algorithm 1): the mean over proxies of the raw scores times the mean
    over proxies of ``Q``."""
    r, qq = np.mean(raw, axis=0), np.mean(q, axis=0)
    return r * (qq if r.ndim == 1 else qq[:, None])


def trak_scores(x, y: np.ndarray, x_target, y_target: np.ndarray, n_classes: int, *, ensemble: int = 3,
                subset: float = 0.5, proj_dim: int = 2048, kind: str = "rademacher", damping: float | None = None,
                c: float = 1.0, seed: int = 0, work_dir: Path, chunk: int = 4096,
                per_target: bool = False) -> TrakResult:
    """TRAK scores of the training rows ``(x, y)`` for the target rows ``(x_target,
    y_target)``: ``ensemble`` proxies, each trained on a random ``subset`` of the rows (its own
    seed), their margin gradients projected to ``proj_dim``, ``damping`` added to the kernel's
    diagonal (default ``DAMPING / c``). Summed over the targets unless ``per_target``. Projected
    features go to memmaps in ``work_dir``."""
    proj = Projection(x.shape[1], n_classes, proj_dim, kind, seed)
    lam = DAMPING / c if damping is None else damping
    u = project_to_disk(proj, x, Path(work_dir) / "u_train.npy", chunk)
    u_t = project_to_disk(proj, x_target, Path(work_dir) / "u_target.npy", chunk)
    result = TrakResult([], [], [], proj, lam)
    for member in range(ensemble):
        rng = np.random.default_rng([seed, 1, member])
        rows = np.sort(rng.choice(len(y), size=max(1, round(subset * len(y))), replace=False))
        (p, _), (p_t, _) = fit_predict_many(x[rows], y[rows], [x, x_target], n_classes, seed=seed + member, c=c)
        a, q = margin_gradients(p, y)
        a_t, _ = margin_gradients(p_t, y_target)
        target = _target_gradients(proj, u_t, a_t, chunk, per_target)
        v = np.linalg.solve(_kernel(proj, u, a, chunk) + lam * np.eye(proj.out_dim), target)
        result.raw.append(_apply(proj, u, a, v, chunk))
        result.q.append(q)
        result.target_accuracy.append(float((p_t.argmax(axis=1) == y_target).mean()) if len(y_target) else 0.0)
    return result


def _kernel(proj: Projection, u: np.ndarray, a: np.ndarray, chunk: int) -> np.ndarray:
    """``Phi^T Phi``, accumulated over chunks of rows (float32 products, float64 sum)."""
    k = np.zeros((proj.out_dim, proj.out_dim))
    for lo in range(0, len(u), chunk):
        g = proj.gradients(np.asarray(u[lo:lo + chunk]), a[lo:lo + chunk])
        k += g.T @ g
    return k


def _target_gradients(proj: Projection, u: np.ndarray, a: np.ndarray, chunk: int, per_target: bool) -> np.ndarray:
    """The targets' projected gradients: their sum ``(out_dim,)``, or all ``(out_dim, targets)``."""
    if per_target:
        return np.concatenate([proj.gradients(np.asarray(u[lo:lo + chunk]), a[lo:lo + chunk]).T.astype(np.float64)
                               for lo in range(0, len(u), chunk)], axis=1) if len(u) else np.zeros((proj.out_dim, 0))
    total = np.zeros(proj.out_dim)
    for lo in range(0, len(u), chunk):
        total += proj.gradients(np.asarray(u[lo:lo + chunk]), a[lo:lo + chunk]).sum(axis=0, dtype=np.float64)
    return total


def _apply(proj: Projection, u: np.ndarray, a: np.ndarray, v: np.ndarray, chunk: int) -> np.ndarray:
    """``Phi v``, chunk by chunk."""
    out = np.zeros((len(u),) + v.shape[1:])
    for lo in range(0, len(u), chunk):
        out[lo:lo + chunk] = proj.gradients(np.asarray(u[lo:lo + chunk]), a[lo:lo + chunk]) @ v
    return out
