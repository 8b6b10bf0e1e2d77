"""Sequence-level loss of the BILUO heads: a linear-chain CRF over the valid tag sequences.

A sequence's score is the sum of its characters' log-probabilities and of one weight per step
between consecutive tags (``transitions``: tags × tags, learned with the head; steps the BILUO
constraints forbid score -inf). The loss is the negative log-likelihood of the reference tags;
its gradient with respect to each character's logits is (marginal probability of the tag among
valid sequences) − (the same among sequences that agree with the reference), and with respect to
a transition weight the expected number of such steps, the same difference; characters without a
reference tag are left free. The heads decode with Viterbi under the same scores (biluo.py).

Why: a per-character softmax loss trains each character on its own and spends probability on
sequences the decoder can never output; this loss scores whole sequences the decoder can produce.
It raised dev and held-out F1; the learned weights on top raised held-out F1 further
(docs/NER-EXPERIMENTS.md, groups 3 and 5).
"""
from __future__ import annotations

import numpy as np

_NEG = -1e30


class Layout:
    """Index arrays of the BILUO tags ``labels``: O, and B/I/L/U of each entity label in the same
    label order. Valid sequences start with O/B/U, end with O/L/U; after O, L or U (a closed
    entity) comes O, B or U; after B-x or I-x comes I-x or L-x."""

    def __init__(self, labels: tuple[str, ...]):
        ents = sorted({t.partition("-")[2] for t in labels if t != "O"})
        self.o = labels.index("O")
        self.b, self.i, self.l, self.u = (np.array([labels.index(f"{p}-{e}") for e in ents], dtype=np.int64)
                                          for p in "BILU")
        self.closed = np.concatenate([[self.o], self.l, self.u])   # may end a sequence
        self.opening = np.concatenate([[self.o], self.b, self.u])  # may start one
        self.n_tags = len(labels)
        self.start = np.full(self.n_tags, _NEG)
        self.start[self.opening] = 0.0
        self.end = np.full(self.n_tags, _NEG)
        self.end[self.closed] = 0.0
        self.allowed = np.zeros((self.n_tags, self.n_tags), dtype=bool)   # [previous tag, next tag]
        self.allowed[np.ix_(self.closed, self.opening)] = True
        for b, i, l in zip(self.b, self.i, self.l):
            self.allowed[np.ix_([b, i], [i, l])] = True

    def transitions(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Log-scores of the steps between tags: ``weights`` (0 if None) where allowed, else _NEG."""
        return np.where(self.allowed, 0.0 if weights is None else np.asarray(weights, dtype="float64"), _NEG)


def _lse(x: np.ndarray) -> np.ndarray:
    """logsumexp over the last axis."""
    m = x.max(axis=-1)
    return m + np.log(np.exp(x - m[..., None]).sum(axis=-1))


def forward_backward(emit: np.ndarray, lengths: np.ndarray, lay: Layout, trans: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward and backward log-scores (batch, time, tags) and log partitions (batch,) of padded
    log-scores ``emit`` (_NEG where a tag is excluded) over the valid sequences; ``trans`` from
    Layout.transitions."""
    n, longest, _ = emit.shape
    alpha = np.empty_like(emit)
    alpha[:, 0] = emit[:, 0] + lay.start
    for t in range(1, longest):
        prev = alpha[:, t - 1]
        step = _lse(np.swapaxes(prev[:, :, None] + trans, 1, 2)) + emit[:, t]
        alpha[:, t] = np.where((t < lengths)[:, None], step, prev)
    log_z = _lse(alpha[np.arange(n), lengths - 1] + lay.end)
    beta = np.empty_like(emit)
    beta[:, longest - 1] = lay.end
    for t in range(longest - 2, -1, -1):
        step = _lse(trans + (emit[:, t + 1] + beta[:, t + 1])[:, None, :])
        beta[:, t] = np.where((t < lengths - 1)[:, None], step, lay.end)
    return alpha, beta, log_z


def marginals(alpha, beta, log_z, lengths) -> np.ndarray:
    """Tag marginals (batch, time, tags) from ``forward_backward``; 0 past each sequence's end."""
    marg = np.exp(np.clip(alpha + beta - log_z[:, None, None], -700, 0))
    marg[np.arange(alpha.shape[1])[None, :] >= lengths[:, None]] = 0.0
    return marg


def _step_counts(emit, alpha, beta, log_z, lengths, trans, sign) -> np.ndarray:
    """Σ over rows of ``sign`` × the expected number of each tag → tag step, as one product:
    P(tag i at t−1, tag j at t) = exp(alpha[t−1, i] + trans[i, j] + emit[t, j] + beta[t, j] − log Z)."""
    a, b = alpha[:, :-1], (emit + beta)[:, 1:]
    ma, mb = a.max(-1), b.max(-1)
    scale = ma + mb - log_z[:, None]
    live = (np.arange(1, alpha.shape[1])[None, :] < lengths[:, None]) & (sign[:, None] != 0)
    scale = np.where(live, np.minimum(scale, 700.0), -np.inf)
    left = np.exp(a - ma[..., None]) * (np.exp(scale) * sign[:, None])[..., None]
    return np.exp(trans) * np.einsum("nti,ntj->ij", left, np.exp(b - mb[..., None]))


def sequence_loss(scores: list[np.ndarray], truths: list[list[int | None]], labels: tuple[str, ...],
                  weights: np.ndarray | None = None) -> tuple[float, list[np.ndarray], np.ndarray]:
    """Negative log-likelihood of the reference tags (indices into ``labels``; None: no reference)
    given per-character probabilities ``scores`` and the transition ``weights`` (tags × tags; None:
    all 0), its gradient with respect to the logits, and its gradient with respect to ``weights``."""
    lay = Layout(labels)
    trans = lay.transitions(weights)
    keep = [i for i, s in enumerate(scores) if len(s)]
    grads = [np.zeros_like(s) for s in scores]
    d_weights = np.zeros((lay.n_tags, lay.n_tags))
    if not keep:
        return 0.0, grads, d_weights
    lengths = np.array([len(scores[i]) for i in keep])
    longest, k = int(lengths.max()), len(keep)
    refs = [np.array([-1 if tag is None else tag for tag in truths[i]], dtype=np.int64) for i in keep]
    # Rows 0..k-1: all valid sequences; rows k..2k-1: those that agree with the reference.
    emit = np.full((2 * k, longest, lay.n_tags), _NEG)
    for r, (i, ref) in enumerate(zip(keep, refs)):
        # log-probabilities differ from the logits by a per-character constant, which cancels
        lp = np.log(np.maximum(np.asarray(scores[i], dtype="float64"), 1e-30))
        emit[r, :lengths[r]] = lp
        gold = np.where(ref[:, None] < 0, lp, _NEG)
        known = np.flatnonzero(ref >= 0)
        gold[known, ref[known]] = lp[known, ref[known]]
        emit[k + r, :lengths[r]] = gold
    both = np.concatenate([lengths, lengths])
    alpha, beta, log_z = forward_backward(emit, both, lay, trans)
    marg = marginals(alpha, beta, log_z, both)
    sign = np.concatenate([np.ones(k), -np.ones(k)])
    loss = 0.0
    for r, (i, ref) in enumerate(zip(keep, refs)):
        if log_z[k + r] < _NEG / 2:
            # A reference no valid sequence matches (a misaligned entity): per-character loss.
            sign[[r, k + r]] = 0.0
            probs = np.asarray(scores[i], dtype="float64")
            known = np.flatnonzero(ref >= 0)
            grad = np.zeros_like(probs)
            grad[known] = probs[known]
            grad[known, ref[known]] -= 1.0
            grads[i] = grad.astype(scores[i].dtype)
            loss -= float(np.log(np.maximum(probs[known, ref[known]], 1e-30)).sum())
            continue
        grads[i] = (marg[r, :lengths[r]] - marg[k + r, :lengths[r]]).astype(scores[i].dtype)
        loss += float(log_z[r] - log_z[k + r])
    if weights is not None:
        d_weights = _step_counts(emit, alpha, beta, log_z, both, trans, sign)
    return loss, grads, d_weights
