"""The sequence-level loss of the BILUO heads (crf.py) against brute force over valid sequences."""
import itertools

import numpy as np
import pytest

from pipeline.nlp.crf import Layout, forward_backward, marginals, sequence_loss

LABELS = ("B-DISEASE", "B-DRUG", "I-DISEASE", "I-DRUG", "L-DISEASE", "L-DRUG", "O", "U-DISEASE", "U-DRUG")


def _valid(tags):
    open_label = None
    for t in tags:
        p, _, lab = t.partition("-")
        if (open_label is None and p in ("I", "L")) or (open_label is not None and (p not in ("I", "L") or lab != open_label)):
            return False
        open_label = lab if p in ("B", "I") else None
    return open_label is None


def _brute_nll(logits, truth, weights=None):
    weights = np.zeros((len(LABELS), len(LABELS))) if weights is None else weights
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    paths = [p for p in itertools.product(range(len(LABELS)), repeat=len(logits)) if _valid([LABELS[i] for i in p])]
    score = [sum(logp[t, k] for t, k in enumerate(p)) + sum(weights[a, b] for a, b in zip(p, p[1:])) for p in paths]
    agree = [s for p, s in zip(paths, score) if all(r is None or r == k for r, k in zip(truth, p))]
    return np.logaddexp.reduce(score) - np.logaddexp.reduce(agree)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("truth", [[6], [0, 2, 4], [None, 1, 5, 6], [7, None, None, 8]])
def test_loss_and_gradient_match_brute_force(truth):
    rng = np.random.default_rng(len(truth))
    logits = rng.normal(0, 2, (len(truth), len(LABELS)))
    loss, grads, _ = sequence_loss([_softmax(logits)], [truth], LABELS)
    assert loss == pytest.approx(_brute_nll(logits, truth), rel=1e-9)
    numeric = np.zeros_like(logits)
    for t, k in itertools.product(range(len(truth)), range(len(LABELS))):
        e = np.zeros_like(logits)
        e[t, k] = 1e-5
        numeric[t, k] = (_brute_nll(logits + e, truth) - _brute_nll(logits - e, truth)) / 2e-5
    assert np.abs(grads[0] - numeric).max() < 1e-6


def test_marginals_are_distributions_over_valid_tags():
    rng = np.random.default_rng(0)
    lengths = np.array([6, 2])
    emit = rng.normal(0, 2, (2, 6, len(LABELS)))
    lay = Layout(LABELS)
    alpha, beta, log_z = forward_backward(emit, lengths, lay, lay.transitions())
    marg = marginals(alpha, beta, log_z, lengths)
    assert np.allclose(marg[0].sum(1), 1) and np.allclose(marg[1, :2].sum(1), 1) and np.allclose(marg[1, 2:], 0)
    # no I-/L- at the start, no B-/I- at the end
    assert marg[0, 0, [2, 3, 4, 5]].max() < 1e-12 and marg[0, -1, [0, 1, 2, 3]].max() < 1e-12


def test_a_batch_is_the_sum_of_its_sequences():
    rng = np.random.default_rng(3)
    scores = [_softmax(rng.normal(0, 2, (n, len(LABELS)))).astype("float32") for n in (9, 1, 0, 4)]
    truths = [[6, 0, 2, 2, 4, 6, 7, 6, 8], [8], [], [None, 6, 1, 5]]
    weights = np.random.default_rng(4).normal(0, 1, (len(LABELS), len(LABELS)))
    loss, grads, d_weights = sequence_loss(scores, truths, LABELS, weights)
    alone = [sequence_loss([s], [t], LABELS, weights) for s, t in zip(scores, truths)]
    assert loss == pytest.approx(sum(a[0] for a in alone), rel=1e-6)
    for g, (_, (a,), _) in zip(grads, alone):
        assert g.shape == a.shape and np.allclose(g, a, atol=1e-6)
    assert grads[2].shape == (0, len(LABELS))
    assert np.allclose(d_weights, sum(a[2] for a in alone), atol=1e-9) and np.abs(d_weights).max() > 0.01


def test_a_reference_no_valid_sequence_matches_falls_back_to_the_per_character_loss():
    probs = _softmax(np.random.default_rng(5).normal(0, 1, (3, len(LABELS))))
    truth = [0, 6, None]                                  # B-DISEASE followed by O: invalid
    loss, (grad,), d_weights = sequence_loss([probs], [truth], LABELS, np.ones((len(LABELS), len(LABELS))))
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(probs[0, 0]) - np.log(probs[1, 6]))
    want = probs.copy()
    want[0, 0] -= 1
    want[1, 6] -= 1
    want[2] = 0
    assert np.allclose(grad, want)
    assert not d_weights.any()                            # nor do its steps teach the transitions


@pytest.mark.parametrize("truth", [[6, 6, 6], [0, 2, 4], [None, 1, None, 6], [7, None, None]])
def test_transition_weights_score_the_steps_and_their_gradient_matches_brute_force(truth):
    rng = np.random.default_rng(10 + len(truth))
    logits = rng.normal(0, 2, (len(truth), len(LABELS)))
    weights = rng.normal(0, 1, (len(LABELS), len(LABELS)))
    loss, _, d_weights = sequence_loss([_softmax(logits)], [truth], LABELS, weights)
    assert loss == pytest.approx(_brute_nll(logits, truth, weights), rel=1e-9)
    assert loss != pytest.approx(_brute_nll(logits, truth), rel=1e-3)
    allowed = Layout(LABELS).allowed
    numeric = np.zeros_like(weights)
    for a, b in zip(*np.nonzero(allowed)):
        e = np.zeros_like(weights)
        e[a, b] = 1e-5
        numeric[a, b] = (_brute_nll(logits, truth, weights + e) - _brute_nll(logits, truth, weights - e)) / 2e-5
    assert np.abs(d_weights - numeric).max() < 1e-6
    assert not d_weights[~allowed].any()                 # forbidden steps never get a gradient
