"""``difficulty``: how hard each labelled record is for a small model: EL2N and GraNd (Paul,
Ganguli & Dziugaite 2021, "Deep Learning on a Data Diet") and forgetting events (Toneva et al.
2019, "An Empirical Study of Example Forgetting during Deep Neural Network Learning")."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...errors import MissingDependencyError, RecipeError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, reason
from ..registry import register_op
from .inputs import MODEL_PARAMS, label_indices, model_key_columns, model_keys

__all__ = ["Difficulty", "difficulty_scores"]

SCORES = ("el2n", "grand", "forgetting")


def difficulty_scores(x: np.ndarray, y: np.ndarray, n_classes: int, *, seeds: int = 3, epochs: int = 10,
                      score_epoch: int = 2, hidden: int = 256, lr: float = 1e-3, batch: int = 128,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Train a small MLP (``hidden`` units; 0: softmax regression) ``seeds`` times on
    ``(x, y)``; return per record the mean over seeds of EL2N (``||softmax - onehot||_2``) and
    GraNd (the per-example gradient norm of the loss over every weight) after ``score_epoch``
    epochs, and of the forgetting events (a record correct after one epoch and wrong after the
    next) over all ``epochs``; a record never learned counts ``epochs`` forgettings."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("the difficulty op needs torch: pip install 'thresher[embed]'") from exc
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small MLP: one thread is faster than several that contend
    try:
        return _train_and_score(x, y, n_classes, seeds=seeds, epochs=epochs, score_epoch=score_epoch,
                                hidden=hidden, lr=lr, batch=batch, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _train_and_score(x, y, n_classes, *, seeds, epochs, score_epoch, hidden, lr, batch, seed):
    import torch
    from torch.func import functional_call, grad, vmap

    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(y, dtype=torch.long)
    n = len(y)
    el2n, grand, forget = np.zeros(n), np.zeros(n), np.zeros(n)
    for s in range(seeds):
        gen = torch.Generator().manual_seed(seed * 1000 + s)
        torch.manual_seed(seed * 1000 + s)
        layers = [torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes)] \
            if hidden else [torch.nn.Linear(x.shape[1], n_classes)]
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        correct_before = np.zeros(n, bool)
        ever_learned = np.zeros(n, bool)
        events = np.zeros(n)
        for epoch in range(1, epochs + 1):
            order = torch.randperm(n, generator=gen)
            for lo in range(0, n, batch):
                idx = order[lo:lo + batch]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
            with torch.no_grad():
                probs = torch.softmax(model(xt), dim=1)
            correct = (probs.argmax(dim=1) == yt).numpy()
            events += correct_before & ~correct
            ever_learned |= correct
            correct_before = correct
            if epoch == score_epoch:
                onehot = torch.nn.functional.one_hot(yt, n_classes).float()
                el2n += torch.linalg.norm(probs - onehot, dim=1).numpy()
                grand += _grad_norms(model, xt, yt, functional_call, grad, vmap, torch)
        forget += np.where(ever_learned, events, epochs)
    return {"el2n": el2n / seeds, "grand": grand / seeds, "forgetting": forget / seeds}


def _grad_norms(model, xt, yt, functional_call, grad, vmap, torch, chunk: int = 512) -> np.ndarray:
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, yi.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    norms = []
    for lo in range(0, len(yt), chunk):
        g = per_example(params, xt[lo:lo + chunk], yt[lo:lo + chunk])
        norms.append(torch.sqrt(sum((v.reshape(v.shape[0], -1) ** 2).sum(dim=1) for v in g.values())).numpy())
    return np.concatenate(norms) if norms else np.zeros(0)


@register_op("difficulty")
class Difficulty(GlobalOp):
    """Per-record difficulty from a small model trained on the labelled records (an MLP on
    the embed step's vectors, ``seeds`` runs): EL2N and GraNd early in training (after
    ``score_epoch`` of ``epochs``, as Data Diet scores at 10% of training; Paul et al. 2021) and
    forgetting events over training (Toneva et al. 2019). Writes ``th_el2n``, ``th_grand`` and
    ``th_forgetting``; ``remove_easiest`` prunes that fraction with the lowest ``by`` score
    (Data Diet's pruning), or ``keep_band: [lo, hi]`` keeps the records between those quantiles
    of ``by`` (dropping both the easiest and, e.g., the likely mislabelled hardest).

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> from thresher.ops.embed.embed import Embed
    >>> vectors = [[1.0, 0.1 * i] for i in range(6)] + [[0.1 * i, 1.0] for i in range(6)]
    >>> rows = [{"id": f"r{i:02d}", "text": "", "vec": v, "label": "cat" if i < 6 else "dog"}
    ...         for i, v in enumerate(vectors)]
    >>> rows[5]["label"] = "dog"  # mislabelled: harder than the cats
    >>> op = Difficulty(epochs=3, seeds=1, hidden=8, remove_easiest=0.25)
    >>> t = try_op([Embed(precomputed="vec"), op], rows)
    >>> sorted(t.removed), t.removed["r02"].split(":")[0]
    (['r02', 'r03', 'r04'], 'easy (el2n)')
    >>> t.rows["r02"]["th_el2n"] < t.rows["r05"]["th_el2n"]
    True
    """

    annotates = True
    writes = tuple(f"th_{s}" for s in SCORES)
    thresholds = {f"th_{s}": () for s in SCORES}
    params = {
        "label": MODEL_PARAMS["label"],
        "classes": MODEL_PARAMS["classes"],
        "by": Param(str, "el2n", "the score that prunes", choices=SCORES),
        "remove_easiest": Param(float, None, "remove this fraction of records, the lowest scores", low=0, high=1,
                                high_open=True, nullable=True),
        "keep_band": Param(list, None, "keep records between these two quantiles of the score", item=float,
                           nullable=True),
        "seeds": Param(int, 3, "training runs averaged", low=1),
        "epochs": Param(int, 10, "training epochs", low=1),
        "score_epoch": Param(int, 2, "the epoch after which EL2N and GraNd are measured", low=1),
        "hidden": Param(int, 256, "hidden units of the MLP (0: softmax regression)", low=0),
        "lr": Param(float, 1e-3, "Adam learning rate", low=0, low_open=True),
    }

    def validate(self) -> None:
        if self.remove_easiest is not None and self.keep_band is not None:
            raise RecipeError(f"{self.name}: give remove_easiest or keep_band, not both.")
        if self.keep_band is not None and (len(self.keep_band) != 2 or not 0 <= self.keep_band[0] < self.keep_band[1]
                                           <= 1):
            raise RecipeError(f"{self.name}.keep_band must be [lo, hi] with 0 <= lo < hi <= 1, got {self.keep_band}.")
        if self.score_epoch > self.epochs:
            raise RecipeError(f"{self.name}.score_epoch ({self.score_epoch}) is after the last epoch ({self.epochs}).")
        self.features, self.probs, self.logits = "embedding", None, None  # the model-input helpers read these

    def holds(self) -> str:
        return "id, label and the embedding per record"

    def key_columns(self) -> list[str]:
        return model_key_columns(self)

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        return model_keys(self, batch, require_label=True)

    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        from ..embed.vectors import EMBEDDING_KEY, vectors_for

        table = KeyParts.of(keys).read_by_id()
        labels, classes = label_indices(self, table)
        rows = np.flatnonzero(labels >= 0)
        n = table.num_rows
        scores = {s: np.full(n, np.nan) for s in SCORES}
        if len(rows):
            x = vectors_for(ctx, table.column(EMBEDDING_KEY).take(pa.array(rows)))
            got = difficulty_scores(x, labels[rows], len(classes), seeds=self.seeds, epochs=self.epochs,
                                    score_epoch=self.score_epoch, hidden=self.hidden, lr=self.lr, seed=ctx.seed)
            for s in SCORES:
                scores[s][rows] = got[s]
        reasons = self._removals(scores[self.by], rows, ctx)
        columns = {"id": table.column("id"), "reason": pa.array(reasons, pa.string())}
        columns.update({f"th_{s}": pa.array(scores[s].astype(np.float32), from_pandas=True) for s in SCORES})
        ctx.info.update({"scored": int(len(rows)), "by": self.by})
        return pa.table(columns)

    def _removals(self, score: np.ndarray, rows: np.ndarray, ctx: OpContext) -> list[str | None]:
        reasons: list[str | None] = [None] * len(score)
        if not len(rows) or (self.remove_easiest is None and self.keep_band is None):
            return reasons
        s = score[rows]
        order = rows[np.argsort(s, kind="stable")]
        if self.remove_easiest is not None:
            out = order[:int(round(self.remove_easiest * len(rows)))]
            for i in out.tolist():
                reasons[i] = reason(f"easy ({self.by})", f"{score[i]:.4g}, in the easiest {self.remove_easiest:.0%}")
        else:
            lo, hi = int(round(self.keep_band[0] * len(rows))), int(round(self.keep_band[1] * len(rows)))
            for i in order[:lo].tolist():
                reasons[i] = reason(f"easy ({self.by})", f"{score[i]:.4g}, below the {self.keep_band[0]:.0%} quantile")
            for i in order[hi:].tolist():
                reasons[i] = reason(f"hard ({self.by})", f"{score[i]:.4g}, above the {self.keep_band[1]:.0%} quantile")
        ctx.info["removed"] = int(sum(r is not None for r in reasons))
        return reasons
