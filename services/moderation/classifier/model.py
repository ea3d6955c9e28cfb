"""The offline classifier at run time: numpy only, weights read from `model.json`.

Per language (English, Russian) a linear model per attribute over the features of
`features.py`; a score is `sigmoid(x · w + b)` with `x` the text's features, each
`1 / sqrt(number of features)`. The biases are shifted at training so that 0.5 is the
threshold that did best in cross-validation on the training set: a score above 0.5
means "more likely than not", per attribute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from services.moderation.classifier.features import (
    MIN_FEATURES,
    canonical,
    language_of,
    word_features,
)

ATTRIBUTES = ("toxicity", "insult", "threat", "profanity", "sexual", "spam")
LANGUAGES = ("en", "ru")
MODEL_PATH = Path(__file__).with_name("model.json")
WORD_CACHE = 200_000
"""Words whose model rows are kept per language (a few MiB at most)."""


class _LanguageModel:
    def __init__(self, spec: dict[str, Any]) -> None:
        names: list[str] = spec["features"]
        self.index = {name: row for row, name in enumerate(names)}
        weights = np.asarray(spec["weights"], dtype=np.float32).reshape(len(names), -1)
        # one zero row at the end: every text adds it, so no text has an empty segment
        self.weights = np.vstack([weights, np.zeros((1, weights.shape[1]), np.float32)])
        self.bias = np.asarray(spec["bias"], dtype=np.float32)
        self.empty = len(names)
        self._rows_of_word: dict[str, frozenset[int]] = {}

    def _word_rows(self, word: str) -> frozenset[int]:
        """The model's rows of one word's features (cached: words repeat across texts)."""
        rows = self._rows_of_word.get(word)
        if rows is None:
            index = self.index
            rows = frozenset(index[name] for name in word_features(word) if name in index)
            if len(self._rows_of_word) < WORD_CACHE:
                self._rows_of_word[word] = rows
        return rows

    def logits(self, texts: Sequence[str], language: str) -> np.ndarray:
        rows: list[int] = []
        starts: list[int] = []
        scale = np.empty(len(texts), dtype=np.float32)
        index = self.index
        for position, text in enumerate(texts):
            words = canonical(text, language).split()
            # The same features as `features(text)`, counted distinct, but gathered as
            # cached row sets per word: no per-text set of feature strings to look up.
            pairs = {"b:" + words[i - 1] + " " + words[i] for i in range(1, len(words))}
            unique = set(words)
            count = len(pairs) + len(set().union(*(word_features(w) for w in unique)))
            found = set().union(*(self._word_rows(w) for w in unique))
            found.update(index[pair] for pair in pairs if pair in index)
            starts.append(len(rows))
            rows.extend(found)
            rows.append(self.empty)
            scale[position] = 1.0 / np.sqrt(max(count, MIN_FEATURES))
        gathered = self.weights[np.asarray(rows, dtype=np.intp)]
        if len(texts) == 1:
            sums = gathered.sum(axis=0, keepdims=True)
        else:
            sums = np.add.reduceat(gathered, starts, axis=0)
        result: np.ndarray = sums * scale[:, None] + self.bias
        return result


class Classifier:
    """Scores in 0-1 per attribute for English and Russian texts, in batches."""

    def __init__(self, artifact: dict[str, Any]) -> None:
        self.version: str = artifact["version"]
        self.attributes: tuple[str, ...] = tuple(artifact["attributes"])
        self._models = {lang: _LanguageModel(spec) for lang, spec in artifact["languages"].items()}

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> Classifier:
        """Read an artifact written by `python -m services.moderation.classifier train`."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def score_many(
        self, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> list[dict[str, float]]:
        """One `{attribute: score}` per text; the language of each is detected if not given.

        Texts without letters (`und`) are read by the English model."""
        langs = list(languages) if languages is not None else [language_of(t) for t in texts]
        out: list[dict[str, float]] = [{} for _ in texts]
        for language, model in self._models.items():
            positions = [
                i
                for i, lang in enumerate(langs)
                if (lang if lang in self._models else "en") == language
            ]
            if not positions:
                continue
            logits = model.logits([texts[i] for i in positions], language)
            probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
            for row, position in enumerate(positions):
                out[position] = {
                    name: round(float(value), 4)
                    for name, value in zip(self.attributes, probabilities[row], strict=True)
                }
        return out

    def score(self, text: str, language: str | None = None) -> dict[str, float]:
        """The scores of one text."""
        return self.score_many([text], None if language is None else [language])[0]


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The committed model, loaded once per process."""
    return Classifier.load()
