"""Messages per second through the moderation rules engine, in one process.

Mixed English and Russian traffic (clean messages, profanity, obfuscations, links,
mentions), each message unique so no cache helps. Baseline in the same run: the same
word lists as one plain `re` alternation on the lower-cased text, with none of the
normalization (it misses obfuscations; it is the floor of what a word list costs).

    .venv/bin/python bench/moderation_rules.py --messages 20000
"""

from __future__ import annotations

import argparse
import random
import re
import time

from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Engine
from services.moderation.domain.rules import DEFAULT_RULES, KeywordsRule

TEMPLATES = [
    "hey everyone, the meetup is at {n} pm tomorrow, see you there",
    "has anyone tried the new release {n}? the docs at https://docs.example.org/{n} help",
    "what the fuck is going on with build {n}",
    "sh1t, lost my progress again ({n})",
    "f.u.c.k this level {n}",
    "FREE NITRO for everyone: bit.ly/{n}",
    "@ann @bob thanks for the review of PR {n}",
    "всем привет, стрим начнётся в {n}:00",
    "кто-нибудь пробовал версию {n}? документация отличная",
    "ну ты и сука, {n} раз уже",
    "cyka blyat, опять {n}",
    "нельзя оскорблять людей, правило {n}",
    "надо застраховать машину до {n} числа",
    "join discord.gg/abc{n} for free stuff",
]


def messages(count: int, seed: int = 7) -> list[Message]:
    rng = random.Random(seed)
    return [
        Message(rng.choice(TEMPLATES).format(n=n), author_ids=frozenset({str(n % 97)}))
        for n in range(count)
    ]


def baseline_pattern() -> re.Pattern[str]:
    words = [
        w.strip("*")
        for rule in DEFAULT_RULES.rules
        if isinstance(rule, KeywordsRule)
        for w in rule.words
    ]
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(set(words))) + r")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    traffic = messages(args.messages)
    engine = Engine(DEFAULT_RULES)
    engine.evaluate(Message("warm up"))

    started = time.perf_counter()
    flagged = sum(engine.evaluate(m, {10: 1}).verdict != "allow" for m in traffic)
    ours = args.messages / (time.perf_counter() - started)

    pattern = baseline_pattern()
    started = time.perf_counter()
    naive = sum(pattern.search(m.text.lower()) is not None for m in traffic)
    base = args.messages / (time.perf_counter() - started)

    print(f"messages            {args.messages}")
    print(f"rules engine        {ours:10.0f} msg/s   not allowed: {flagged}")
    print(f"plain re word list  {base:10.0f} msg/s   matched:     {naive}")
    print(f"ratio ours/baseline {ours / base:10.3f}")


if __name__ == "__main__":
    main()
