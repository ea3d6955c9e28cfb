"""Intent of a feedback message: a softmax classifier over its (centred) embedding.

Trained by `python -m services.insights.intents` from the labelled messages in
services/insights/intents/train.json; the result is committed as model.json. Training is
deterministic (zero start, full-batch gradient descent, fixed steps), so the committed
artifact is what the command produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.floating[Any]]


class Intent(StrEnum):
    """What a message is, for routing; `other` is not feedback."""

    BUG_REPORT = "bug_report"
    FEATURE_REQUEST = "feature_request"
    COMPLAINT = "complaint"
    PRAISE = "praise"
    QUESTION = "question"
    OTHER = "other"


FEEDBACK_INTENTS = frozenset(Intent) - {Intent.OTHER}


def _features(embeddings: npt.ArrayLike, centre: Matrix) -> Matrix:
    x = np.asarray(embeddings, dtype=np.float64) - centre
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float64)


@dataclass(frozen=True)
class IntentModel:
    """Weights of the classifier and the centre its features are taken from."""

    labels: tuple[Intent, ...]
    weights: Matrix  # (classes, dimensions)
    bias: Matrix  # (classes,)
    centre: Matrix  # (dimensions,), also the centre for clustering a stream

    def probabilities(self, embeddings: npt.ArrayLike) -> Matrix:
        """Class probabilities per row of `embeddings`."""
        logits = _features(embeddings, self.centre) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, embeddings: npt.ArrayLike) -> list[Intent]:
        """The most probable intent of each row."""
        return [self.labels[int(i)] for i in np.argmax(self.probabilities(embeddings), axis=1)]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, rounded so the file is small and stable."""
        return {
            "labels": [label.value for label in self.labels],
            "weights": np.round(self.weights, 5).tolist(),
            "bias": np.round(self.bias, 5).tolist(),
            "centre": np.round(self.centre, 6).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntentModel:
        """The model `to_json` wrote."""
        return cls(
            labels=tuple(Intent(label) for label in data["labels"]),
            weights=np.asarray(data["weights"], dtype=np.float64),
            bias=np.asarray(data["bias"], dtype=np.float64),
            centre=np.asarray(data["centre"], dtype=np.float64),
        )


def train(
    embeddings: npt.ArrayLike,
    intents: list[Intent],
    *,
    steps: int = 400,
    learning_rate: float = 2.0,
    l2: float = 1e-3,
) -> IntentModel:
    """Fit a multinomial logistic regression; the same inputs give the same model."""
    raw = np.asarray(embeddings, dtype=np.float64)
    centre = raw.mean(axis=0)
    x = _features(raw, centre)
    labels = tuple(Intent)
    y = np.zeros((len(intents), len(labels)))
    y[np.arange(len(intents)), [labels.index(i) for i in intents]] = 1.0
    weights = np.zeros((len(labels), x.shape[1]))
    bias = np.zeros(len(labels))
    for _ in range(steps):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        error = (p - y) / len(x)
        weights -= learning_rate * (error.T @ x + l2 * weights)
        bias -= learning_rate * error.sum(axis=0)
    return IntentModel(labels, weights, bias, centre)
