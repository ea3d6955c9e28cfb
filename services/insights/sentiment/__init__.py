"""The sentiment head's training data (train.json) and committed artifact (model.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from services.insights.domain.sentiment import Sentiment, SentimentModel

HERE = Path(__file__).resolve().parent
TRAINING_SET = HERE / "train.json"
ARTIFACT = HERE / "model.json"


def training_examples() -> list[tuple[str, Sentiment]]:
    """(text, sentiment) pairs the head is trained on."""
    data = json.loads(TRAINING_SET.read_text(encoding="utf-8"))
    return [(example["text"], Sentiment(example["sentiment"])) for example in data["examples"]]


def train_model() -> SentimentModel:
    """Embed the training set and fit the head (deterministic)."""
    from services.insights.domain.sentiment import train
    from services.insights.embedding import encode

    examples = training_examples()
    return train(encode([text for text, _ in examples]), [s for _, s in examples])


@lru_cache(maxsize=1)
def load_model() -> SentimentModel:
    """The committed sentiment head."""
    return SentimentModel.from_json(json.loads(ARTIFACT.read_text(encoding="utf-8")))
