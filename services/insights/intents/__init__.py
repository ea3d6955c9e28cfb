"""The intent classifier's training data (train.json) and committed artifact (model.json)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from services.insights.domain.intents import Intent, IntentModel

HERE = Path(__file__).resolve().parent
TRAINING_SET = HERE / "train.json"
ARTIFACT = HERE / "model.json"


def training_examples() -> list[tuple[str, Intent]]:
    """(text, intent) pairs the classifier is trained on."""
    data = json.loads(TRAINING_SET.read_text(encoding="utf-8"))
    return [(example["text"], Intent(example["intent"])) for example in data["examples"]]


def train_model() -> IntentModel:
    """Embed the training set and fit the classifier (deterministic)."""
    from services.insights.domain.intents import train
    from services.insights.embedding import encode

    examples = training_examples()
    return train(encode([text for text, _ in examples]), [intent for _, intent in examples])


@lru_cache(maxsize=1)
def load_model() -> IntentModel:
    """The committed classifier."""
    return IntentModel.from_json(json.loads(ARTIFACT.read_text(encoding="utf-8")))
