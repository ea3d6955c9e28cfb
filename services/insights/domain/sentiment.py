"""Sentiment of a message (negative, neutral, positive): a softmax head over its embedding.

Trained by `python -m services.insights.sentiment` from the labelled EN/RU messages in
services/insights/sentiment/train.json; the result is committed as model.json. Training
is deterministic (see domain/softmax.py), so the committed artifact is what the command
produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from services.insights.domain import softmax

Matrix = softmax.Matrix


class Sentiment(StrEnum):
    """How a message feels."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True)
class SentimentModel:
    """Weights of the head and the centre its features are taken from."""

    labels: tuple[Sentiment, ...]
    weights: Matrix
    bias: Matrix
    centre: Matrix

    def probabilities(self, embeddings: npt.ArrayLike) -> Matrix:
        """Class probabilities per row of `embeddings`."""
        return softmax.probabilities(
            softmax.features(embeddings, self.centre), self.weights, self.bias
        )

    def predict(self, embeddings: npt.ArrayLike) -> list[Sentiment]:
        """The most probable sentiment of each row."""
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
    def from_json(cls, data: dict[str, Any]) -> SentimentModel:
        """The model `to_json` wrote."""
        return cls(
            labels=tuple(Sentiment(label) for label in data["labels"]),
            weights=np.asarray(data["weights"], dtype=np.float64),
            bias=np.asarray(data["bias"], dtype=np.float64),
            centre=np.asarray(data["centre"], dtype=np.float64),
        )


def train(embeddings: npt.ArrayLike, sentiments: list[Sentiment]) -> SentimentModel:
    """Fit the head; the same inputs give the same model."""
    raw = np.asarray(embeddings, dtype=np.float64)
    centre = raw.mean(axis=0)
    labels = tuple(Sentiment)
    weights, bias = softmax.fit(
        softmax.features(raw, centre), [labels.index(s) for s in sentiments], len(labels)
    )
    return SentimentModel(labels, weights, bias, centre)
