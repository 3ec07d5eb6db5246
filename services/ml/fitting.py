"""Fits the fast path's linear heads with scikit-learn and picks each head's softmax temperature."""

from __future__ import annotations

import numpy as np

from services.common.textmodel.heads import HeadSpec


def fit_head(
    name: str,
    dense: np.ndarray,
    lex: object,
    y: list[str],
    weights: np.ndarray,
    *,
    C: float = 4.0,
    dense_scale: float = 1.0,
) -> HeadSpec:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    X = sparse.hstack([sparse.csr_matrix(dense * dense_scale), lex], format="csr")
    clf = LogisticRegression(C=C, max_iter=600, solver="lbfgs")
    clf.fit(X, y, sample_weight=weights)
    labels = [str(c) for c in clf.classes_]
    coef = clf.coef_
    intercept = clf.intercept_
    if len(labels) == 2:
        # Binary sklearn models keep one row; expand to two so every head is a softmax.
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    d = dense.shape[1]
    return HeadSpec(name, labels, coef[:, :d] * dense_scale, coef[:, d:], intercept)


def fit_temperature(logits: np.ndarray, y_idx: np.ndarray) -> float:
    """One scalar temperature minimising held-out log loss, so probabilities mean what they say."""
    best_t, best_loss = 1.0, float("inf")
    for t in np.linspace(0.5, 3.0, 26):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-logp[np.arange(len(y_idx)), y_idx].mean())
        if loss < best_loss:
            best_t, best_loss = float(t), loss
    return best_t
