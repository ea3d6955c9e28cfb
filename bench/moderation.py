"""Messages per second through moderation's rules and classifiers in one process.

Mixed English and Russian traffic: the evaluation sets' messages (clean, insults,
threats, profanity, obfuscations, mixed script, spam) and chat templates, each message
made unique so no cache helps. Measured in the same run:

- `hearth, one at a time`: `Engine.evaluate` per message, the default ruleset with the
  offline classifiers (what the consumer and `/evaluate` run);
- `hearth, batches of N`: `Engine.evaluate_many`, the classifier run once per batch;
- the baseline package alone: alt-profanity-check's `predict` (English only, no rules,
  no Russian), batched as it is fastest.

Resident memory is read from /proc after the engine and model are loaded and before the
baseline package is imported.

    .venv/bin/python bench/moderation.py --messages 20000
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from services.moderation.classifier.model import default_classifier
from services.moderation.classifier.quality import eval_set
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Engine
from services.moderation.domain.rules import DEFAULT_RULES, ClassifierConfig

TEMPLATES = [
    "hey everyone, the meetup is at {n} pm tomorrow, see you there",
    "has anyone tried release {n}? the docs at https://docs.example.org/{n} help",
    "@ann @bob thanks for the review of PR {n}",
    "join discord.gg/abc{n} for free stuff",
    "всем привет, стрим начнётся в {n}:00",
    "кто-нибудь пробовал версию {n}? документация отличная",
    "нельзя оскорблять людей, правило {n}",
    "надо застраховать машину до {n} числа",
]


def traffic(count: int, seed: int = 7) -> list[str]:
    """`count` unique messages, about half English and half Russian."""
    rng = random.Random(seed)
    pool = [row["text"] for language in ("en", "ru") for row in eval_set(language)] + TEMPLATES
    return [rng.choice(pool).replace("{n}", str(n)) + f" {n}" for n in range(count)]


def rate(run: Callable[[list[str]], object], texts: list[str]) -> str:
    """Messages per second of `run` over `texts`, by the wall clock and per CPU second of
    this process (the fairer figure on a machine other processes load)."""
    started, cpu = time.perf_counter(), time.process_time()
    run(texts)
    wall = len(texts) / (time.perf_counter() - started)
    return f"{wall:9.0f} msg/s  {len(texts) / (time.process_time() - cpu):9.0f} msg/CPU-s"


def resident_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Print messages/s of Hearth and of the baseline, and resident memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    before = resident_mib()
    engine = Engine(DEFAULT_RULES)
    engine.evaluate(Message("warm up"))
    loaded = resident_mib()
    texts = traffic(args.messages)

    def one_at_a_time(batch: list[str]) -> None:
        for text in batch:
            engine.evaluate(Message(text))

    def batched(batch: list[str]) -> None:
        for start in range(0, len(batch), args.batch):
            engine.evaluate_many([Message(t) for t in batch[start : start + args.batch]])

    rules_only = Engine(
        DEFAULT_RULES.model_copy(update={"classifier": ClassifierConfig(enabled=False)})
    )

    def rules_alone(batch: list[str]) -> None:
        for text in batch:
            rules_only.evaluate(Message(text))

    def classifier_alone(batch: list[str]) -> None:
        for start in range(0, len(batch), args.batch):
            classifier.score_many(batch[start : start + args.batch])

    classifier = default_classifier()
    print(f"messages: {len(texts)} unique, mixed EN/RU; load average {os.getloadavg()[0]:.1f}")
    print(f"hearth, one at a time      {rate(one_at_a_time, texts)}")
    print(f"hearth, batches of {args.batch:<4}    {rate(batched, texts)}")
    print(f"  rules alone              {rate(rules_alone, texts)}")
    print(f"  classifier alone, batched{rate(classifier_alone, texts)}")
    print(f"resident memory: {loaded:.0f} MiB with rules and model loaded ({before:.0f} before)")
    try:
        from profanity_check import predict
    except ImportError:
        print("alt-profanity-check not installed: no baseline")
        return
    predict(["warm up"])
    english = [t for t in texts if t.isascii()]
    print(
        f"alt-profanity-check alone  {rate(predict, english)}"
        f" (its English messages only, {len(english)}, one batch)"
    )


if __name__ == "__main__":
    main()
