"""Train the classifier from the corpus in `data/train.json`; deterministic.

    python -m services.moderation.classifier train          # writes model.json
    python -m services.moderation.classifier train --check  # fails if model.json differs

Per language and attribute: scikit-learn's LogisticRegression (liblinear, dual, balanced
class weights, fixed seed) over the features of `features.py`. The thresholds are
chosen on out-of-fold scores of 5-fold cross-validation on the training set alone (the
evaluation sets in `data/eval_*.json` are never read here): each attribute's best F1
flagging at most 1% of the clean rows, then tuned together for the verdict's F1 with at
most 5% of the clean rows not allowed. Each is folded into its bias, so 0.5 is the
threshold at run time. Features whose weights all round to zero are dropped; weights
are rounded to 4 decimals, so the JSON is the same on every run.

scikit-learn is needed to train (the `dev` extra), never at run time.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from services.moderation.classifier.features import MIN_FEATURES, NGRAM_MAX, NGRAM_MIN, features
from services.moderation.classifier.model import ATTRIBUTES, LANGUAGES, MODEL_PATH

DATA_DIR = Path(__file__).with_name("data")
TRAIN_PATH = DATA_DIR / "train.json"
MIN_DF = 1
C = 30.0
FOLDS = 5
SEED = 0
DECIMALS = 4
MAX_CLEAN_FPR = 0.01
VERDICT_MAX_CLEAN_FPR = 0.05
"""The issue's bound on the verdict: at most 5% of clean messages not allowed."""
GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)
PASSES = 3


def load_corpus(path: Path) -> list[dict[str, Any]]:
    """Rows of `{"lang", "kind", "labels", "text"}`."""
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return rows


def _matrix(docs: list[set[str]], index: dict[str, int]) -> Any:
    from scipy.sparse import csr_matrix

    rows, cols, values = [], [], []
    for row, found in enumerate(docs):
        weight = 1.0 / math.sqrt(max(len(found), MIN_FEATURES))
        for name in sorted(found):
            column = index.get(name)
            if column is not None:
                rows.append(row)
                cols.append(column)
                values.append(weight)
    return csr_matrix((values, (rows, cols)), shape=(len(docs), len(index)), dtype=np.float64)


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        solver="liblinear",
        dual=True,
        C=C,
        class_weight="balanced",
        random_state=SEED,
        max_iter=1000,
    )


def _best_threshold(y: np.ndarray, clean: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold of the best F1 among those flagging at most MAX_CLEAN_FPR of the
    clean rows (six attributes add their false positives up at the verdict)."""
    best, best_f1 = 0.95, -1.0
    for threshold in GRID:
        predicted = probabilities >= threshold
        tp = int(np.sum(predicted & (y == 1)))
        fp = int(np.sum(predicted & (y == 0)))
        fn = int(np.sum(~predicted & (y == 1)))
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        clean_fpr = np.sum(predicted & clean) / max(int(np.sum(clean)), 1)
        if clean_fpr <= MAX_CLEAN_FPR and f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return best


def _verdict_f1(harmful: np.ndarray, clean: np.ndarray, flagged: np.ndarray) -> float:
    """F1 of "not allowed" when the clean-row false-positive rate is within bounds, else -1."""
    if np.sum(flagged & clean) > VERDICT_MAX_CLEAN_FPR * max(int(clean.sum()), 1):
        return -1.0
    tp = int(np.sum(flagged & harmful))
    return 2 * tp / max(int(flagged.sum()) + int(harmful.sum()), 1)


def _verdict_thresholds(
    rows: list[dict[str, Any]], clean: np.ndarray, out_of_fold: dict[str, np.ndarray]
) -> dict[str, float]:
    """Thresholds tuned together for the verdict (any attribute over its threshold), on the
    out-of-fold scores of the training set: each attribute starts at its own best F1
    (flagging at most MAX_CLEAN_FPR of the clean rows), then, attribute by attribute for
    PASSES rounds, moves to the threshold of the best verdict F1 that keeps the verdict's
    clean false-positive rate within VERDICT_MAX_CLEAN_FPR."""
    harmful = ~clean
    thresholds = {
        attribute: _best_threshold(
            np.array([attribute in row["labels"] for row in rows], dtype=int), clean, scores
        )
        for attribute, scores in out_of_fold.items()
    }

    def flagged_without(skip: str) -> np.ndarray:
        flagged = np.zeros(len(rows), dtype=bool)
        for attribute, scores in out_of_fold.items():
            if attribute != skip:
                flagged |= scores >= thresholds[attribute]
        return flagged

    for _ in range(PASSES):
        for attribute, scores in out_of_fold.items():
            others = flagged_without(attribute)
            best = thresholds[attribute]
            best_f1 = _verdict_f1(harmful, clean, others | (scores >= best))
            for threshold in GRID:
                f1 = _verdict_f1(harmful, clean, others | (scores >= threshold))
                if f1 > best_f1 + 1e-12:
                    best, best_f1 = float(threshold), f1
            thresholds[attribute] = best
    return thresholds


def _train_language(rows: list[dict[str, Any]], language: str) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold

    docs = [features(row["text"], language) for row in rows]
    frequency: dict[str, int] = {}
    for found in docs:
        for name in found:
            frequency[name] = frequency.get(name, 0) + 1
    vocabulary = sorted(name for name, count in frequency.items() if count >= MIN_DF)
    index = {name: column for column, name in enumerate(vocabulary)}
    x = _matrix(docs, index)
    weights = np.zeros((len(vocabulary), len(ATTRIBUTES)))
    bias = np.full(len(ATTRIBUTES), -10.0)
    clean = np.array([not row["labels"] for row in rows])
    out_of_fold: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {}
    for attribute in ATTRIBUTES:
        y = np.array([attribute in row["labels"] for row in rows], dtype=int)
        if y.sum() < FOLDS:
            continue
        held_out = np.zeros(len(rows))
        for fit, held in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(x, y):
            held_out[held] = _model().fit(x[fit], y[fit]).predict_proba(x[held])[:, 1]
        out_of_fold[attribute] = held_out
        fitted[attribute] = _model().fit(x, y)
    thresholds = _verdict_thresholds(rows, clean, out_of_fold)
    flagged = np.zeros(len(rows), dtype=bool)
    for column, attribute in enumerate(ATTRIBUTES):
        if attribute not in fitted:
            continue
        threshold = thresholds[attribute]
        flagged |= out_of_fold[attribute] >= threshold
        weights[:, column] = fitted[attribute].coef_[0]
        bias[column] = fitted[attribute].intercept_[0] - math.log(threshold / (1 - threshold))
    tp, fp = int(np.sum(flagged & ~clean)), int(np.sum(flagged & clean))
    fn = int(np.sum(~flagged & ~clean))
    cross_validated = {
        "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
        "clean_fpr": round(fp / max(int(clean.sum()), 1), 4),
    }
    weights = np.round(weights, DECIMALS)
    keep = np.any(weights != 0, axis=1)
    return {
        "features": [name for name, kept in zip(vocabulary, keep, strict=True) if kept],
        "weights": [[float(v) for v in row] for row in weights[keep]],
        "bias": [round(float(v), DECIMALS) for v in bias],
        "cv_thresholds": thresholds,
        "cv_verdict": cross_validated,
        "examples": len(rows),
    }


def train(train_path: Path = TRAIN_PATH) -> dict[str, Any]:
    """The artifact, as a JSON-ready dict, from the training corpus."""
    raw = train_path.read_bytes()
    rows = load_corpus(train_path)
    # The version names the corpus and every setting that shapes the weights.
    settings = [NGRAM_MIN, NGRAM_MAX, MIN_FEATURES, MIN_DF, C, FOLDS, SEED, DECIMALS]
    settings += [MAX_CLEAN_FPR, VERDICT_MAX_CLEAN_FPR, PASSES]
    return {
        "format": 1,
        "version": hashlib.sha256(raw + json.dumps(settings).encode()).hexdigest()[:12],
        "attributes": list(ATTRIBUTES),
        "languages": {
            language: _train_language([r for r in rows if r["lang"] == language], language)
            for language in LANGUAGES
        },
    }


def dumps(artifact: dict[str, Any]) -> str:
    """The artifact as written to disk: one feature per line, stable across runs."""
    lines = ["{"]
    lines.append(f'"format": {artifact["format"]}, "version": {json.dumps(artifact["version"])},')
    lines.append(f'"attributes": {json.dumps(artifact["attributes"])},')
    lines.append('"languages": {')
    for position, (language, spec) in enumerate(artifact["languages"].items()):
        head = {k: spec[k] for k in ("examples", "cv_verdict", "cv_thresholds", "bias")}
        lines.append(f'{json.dumps(language)}: {json.dumps(head)[:-1]}, "features": [')
        lines.append(",\n".join(json.dumps(name, ensure_ascii=False) for name in spec["features"]))
        lines.append('], "weights": [')
        lines.append(",\n".join(json.dumps(row) for row in spec["weights"]))
        lines.append("]}" + ("," if position < len(artifact["languages"]) - 1 else ""))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(check: bool = False, out: Path = MODEL_PATH) -> int:
    """Train and write `out`, or with `check` compare it; 0 when written or identical."""
    text = dumps(train())
    if check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print(f"{out}: {'up to date' if same else 'differs from a fresh training run'}")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text.encode()) // 1024} KiB)")
    return 0
