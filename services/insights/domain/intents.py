"""Intent of a feedback message: a softmax classifier over its (centred) embedding.

Trained by `python -m services.insights.intents` from the labelled messages in
services/insights/intents/train.json; the result is committed as model.json. Training is
deterministic (domain/softmax.py: zero start, full-batch gradient descent, fixed steps),
so the committed artifact is what the command produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from services.insights.domain import softmax

Matrix = npt.NDArray[np.floating[Any]]


class Intent(StrEnum):
    """What a message is, for routing; `other` is not feedback."""

    BUG_REPORT = "bug_report"
    FEATURE_REQUEST = "feature_request"
    COMPLAINT = "complaint"
    PRAISE = "praise"
    QUESTION = "question"
    CONTENT_IDEA = "content_idea"
    """Content a member made or proposes (fan art, clips, guides, post ideas): for SMM."""
    OTHER = "other"


FEEDBACK_INTENTS = frozenset(Intent) - {Intent.OTHER}


@dataclass(frozen=True)
class IntentModel:
    """Weights of the classifier and the centre its features are taken from."""

    labels: tuple[Intent, ...]
    weights: Matrix  # (classes, dimensions)
    bias: Matrix  # (classes,)
    centre: Matrix  # (dimensions,), also the centre for clustering a stream

    def probabilities(self, embeddings: npt.ArrayLike) -> Matrix:
        """Class probabilities per row of `embeddings`."""
        return softmax.probabilities(
            softmax.features(embeddings, self.centre), self.weights, self.bias
        )

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
    labels = tuple(Intent)
    weights, bias = softmax.fit(
        softmax.features(raw, centre),
        [labels.index(i) for i in intents],
        len(labels),
        steps=steps,
        learning_rate=learning_rate,
        l2=l2,
    )
    return IntentModel(labels, weights, bias, centre)
