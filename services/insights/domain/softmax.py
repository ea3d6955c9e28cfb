"""A softmax head over centred sentence embeddings, fitted deterministically.

Shared by the intent classifier and the sentiment head: zero start, full-batch gradient
descent, a fixed number of steps, so the same inputs always give the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.floating[Any]]


def features(embeddings: npt.ArrayLike, centre: Matrix) -> Matrix:
    """Embeddings minus `centre`, scaled to unit length (the heads' input)."""
    x = np.asarray(embeddings, dtype=np.float64) - centre
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float64)


def probabilities(x: Matrix, weights: Matrix, bias: Matrix) -> Matrix:
    """Class probabilities per row of the features `x`."""
    logits = x @ weights.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def fit(
    x: Matrix,
    classes: list[int],
    n_classes: int,
    *,
    steps: int = 400,
    learning_rate: float = 2.0,
    l2: float = 1e-3,
) -> tuple[Matrix, Matrix]:
    """Weights (classes, dimensions) and bias (classes,) of a multinomial logistic regression."""
    y = np.zeros((len(classes), n_classes))
    y[np.arange(len(classes)), classes] = 1.0
    weights = np.zeros((n_classes, x.shape[1]))
    bias = np.zeros(n_classes)
    for _ in range(steps):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        error = (p - y) / len(x)
        weights -= learning_rate * (error.T @ x + l2 * weights)
        bias -= learning_rate * error.sum(axis=0)
    return weights, bias
