"""Quality figures of a moderation verdict on a labelled set: pure numpy, no scikit-learn.

Used by `bench/moderation_quality.py` and by the quality-floor test. A row of a set
is not allowed when it has any label; a prediction is not allowed for any verdict but
`allow` (so a flag on a clean message counts as a false positive).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).with_name("data")


def eval_set(language: str) -> list[dict[str, Any]]:
    """The evaluation rows of `language` (`data/eval_<language>.json`), never trained on."""
    rows: list[dict[str, Any]] = json.loads(
        (DATA_DIR / f"eval_{language}.json").read_text(encoding="utf-8")
    )
    return rows


@dataclass(frozen=True)
class VerdictQuality:
    """Precision, recall and F1 of "not allowed", and false-positive rates on clean rows."""

    precision: float
    recall: float
    f1: float
    false_positive_rate: float
    """Share of clean rows (plain and traps) that were not allowed."""
    trap_false_positive_rate: float
    """Share of the hard negatives alone (Scunthorpe, «оскорблять», kill -9) not allowed."""


def verdict_quality(rows: Sequence[dict[str, Any]], blocked: Sequence[bool]) -> VerdictQuality:
    """The figures of predictions `blocked` (True: not allowed) against `rows`' labels."""
    truth = np.array([bool(row["labels"]) for row in rows])
    predicted = np.asarray(blocked, dtype=bool)
    traps = np.array([row["kind"] == "trap" for row in rows])
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    clean = ~truth
    return VerdictQuality(
        precision=precision,
        recall=recall,
        f1=f1,
        false_positive_rate=float(np.sum(predicted & clean) / max(int(np.sum(clean)), 1)),
        trap_false_positive_rate=float(np.sum(predicted & traps) / max(int(np.sum(traps)), 1)),
    )


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties counted half); None without both classes."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_scores = s[order]
    start = 0
    while start < len(s):
        end = start
        while end + 1 < len(s) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))
