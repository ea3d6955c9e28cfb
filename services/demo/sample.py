# ruff: noqa: RUF001  (Cyrillic text is meant)
"""The bundled sample community: Lumen, a game studio's players on four platforms.

Two weeks of a small community, written by hand and laid out deterministically: English
on Slack, Discord and GitHub, Russian on Telegram; chatter, helpful answers and the
reactions they earn, joins, bug reports and feature requests phrased differently in both
languages, praise for an update, spam, a Russian member who insults people three times,
and an argument between two Slack members that heats up on the last day.

`script()` returns the same items every time (`now` only anchors the dates), so the
demo's figures are the same on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Platform = Literal["slack", "telegram", "discord", "github"]
Kind = Literal["join", "message", "reaction", "issue", "comment"]

DAYS = 14


@dataclass(frozen=True)
class Persona:
    """A member as the platform knows them."""

    key: str
    platform: Platform
    user_id: str
    username: str
    name: str


@dataclass(frozen=True)
class Item:
    """One thing that happens in the community, in time order."""

    seq: int
    at: datetime
    platform: Platform
    kind: Kind
    actor: Persona
    channel: str
    text: str = ""
    title: str = ""
    target: int | None = None  # the seq of the message a reaction or comment is about
    emoji: str = ""


SLACK_TEAM = "T0LUMEN01"
TELEGRAM_CHAT = "-1001700000001"
DISCORD_GUILD = "1100000000000000001"
GITHUB_REPO = "lumen-games/lumen"

SLACK_CHANNELS = {"general": "C0GENERAL1", "feedback": "C0FEEDBACK", "offtopic": "C0OFFTOPIC"}
DISCORD_CHANNELS = {"general": "1100000000000000011", "bugs": "1100000000000000012"}


def _people() -> dict[str, Persona]:
    rows: list[tuple[str, Platform, str, str, str]] = [
        ("alice", "slack", "U0ALICE01", "alice", "Alice Moreau"),
        ("bob", "slack", "U0BOB0001", "bob", "Bob Tanaka"),
        ("carol", "slack", "U0CAROL01", "carol", "Carol Diaz"),
        ("dave", "slack", "U0DAVE001", "dave", "Dave Kim"),
        ("erin", "slack", "U0ERIN001", "erin", "Erin Walsh"),
        ("frank", "slack", "U0FRANK01", "frank", "Frank Osei"),
        ("grace", "slack", "U0GRACE01", "grace", "Grace Liu"),
        ("anya", "telegram", "51000001", "anya_k", "Аня"),
        ("boris", "telegram", "51000002", "boris_p", "Борис"),
        ("vika", "telegram", "51000003", "vika_s", "Вика"),
        ("dima", "telegram", "51000004", "dima_x", "Дима"),
        ("egor", "telegram", "51000005", "egor_m", "Егор"),
        ("katya", "telegram", "51000006", "katya_r", "Катя"),
        ("max", "discord", "1200000000000000001", "maxwell", "Maxwell"),
        ("nina", "discord", "1200000000000000002", "nina", "Nina"),
        ("oscar", "discord", "1200000000000000003", "oscar", "Oscar"),
        ("petra", "discord", "1200000000000000004", "petra", "Petra"),
        ("spam", "discord", "1200000000000000666", "free_nitro_drop", "FREE NITRO"),
        ("alice_gh", "github", "7100001", "alice", "Alice Moreau"),
        ("ruslan", "github", "7100002", "ruslan-dev", "Ruslan"),
        ("sam", "github", "7100003", "samwise", "Sam"),
    ]
    return {key: Persona(key, platform, uid, user, name) for key, platform, uid, user, name in rows}


PEOPLE = _people()

CHATTER_EN = [
    "good morning everyone",
    "anyone up for a match tonight?",
    "gg last night, that was fun",
    "what is everyone playing this weekend?",
    "that clip from yesterday's stream was hilarious",
    "I finally reached the gold league",
    "welcome to all the newcomers!",
    "see you all at the tournament on Saturday",
    "who is streaming today?",
    "just got home, queueing up now",
    "the soundtrack of this season is so good",
    "anyone want to team up for the weekly challenge?",
    "my cat walked over the keyboard mid-match again",
    "coffee first, then ranked",
    "does anyone have tips for the last boss?",
]
CHATTER_RU = [
    "всем привет",
    "кто сегодня вечером играет?",
    "вчера была отличная катка",
    "добро пожаловать новичкам!",
    "кто идёт на турнир в субботу?",
    "наконец дошёл до золотой лиги",
    "саундтрек в этом сезоне просто огонь",
    "кто со мной в еженедельное испытание?",
    "подскажите, как пройти последнего босса?",
    "сегодня стрим будет?",
]
ANSWERS_EN = [
    "Try verifying the game files in the launcher, that fixed the crash for me",
    "You can link it under Settings, then Accounts, then Discord",
    "Patch notes are pinned in the announcements channel",
    "For the last boss: dodge left on the third swing, then go for the back",
    "Restarting the router fixed the login error for me",
]
ANSWERS_RU = [
    "Попробуй проверить целостность файлов в лаунчере, мне помогло",
    "Привязать можно в настройках, раздел Аккаунты",
    "Описание патча закреплено в канале с анонсами",
]

# Feedback: each theme in both languages, as different members would put it.
FEEDBACK: dict[str, tuple[list[str], list[str]]] = {
    "crash": (
        [
            "The game crashes on startup since the 1.4 update",
            "After updating to 1.4 it crashes right at launch",
            "Crash to desktop every time I start the game after the patch",
            "Since the new patch the game will not start, it crashes on the splash screen",
            "1.4 broke launching for me, instant crash on start",
        ],
        [
            "Игра вылетает при запуске после обновления 1.4",
            "После патча 1.4 игра крашится сразу при старте",
            "С новым обновлением игра не запускается, вылетает на заставке",
        ],
    ),
    "dark_mode": (
        [
            "Please add a dark mode to the launcher",
            "A dark theme for the launcher would be great",
            "Any plans for a dark mode? The white launcher hurts my eyes at night",
        ],
        [
            "Добавьте, пожалуйста, тёмную тему в лаунчер",
            "Очень не хватает тёмной темы, ночью глаза устают от белого лаунчера",
        ],
    ),
    "login": (
        [
            "Login fails with error 502 since this morning",
            "I keep getting error 502 when I try to sign in",
        ],
        [
            "Не могу войти в аккаунт, выдаёт ошибку 502",
            "При входе в игру ошибка 502 с самого утра",
        ],
    ),
    "controller": (
        [
            "Please add gamepad support, playing with a controller would be so much better",
            "Any chance of controller support on PC?",
        ],
        ["Добавьте поддержку геймпада на ПК, пожалуйста"],
    ),
    "winter_map": (
        [
            "The new winter map is absolutely gorgeous, great job team",
            "Loving the new snow map, best update this year",
            "The winter map looks stunning, the lighting is beautiful",
        ],
        [
            "Новая зимняя карта просто шикарная, спасибо разработчикам",
            "Зимняя карта очень красивая, лучшее обновление за год",
        ],
    ),
}
GITHUB_ISSUES = [
    ("Crash on startup after 1.4", "The game crashes on startup since 1.4. Log attached."),
    ("Dark mode for the launcher", "Please add a dark theme option to the launcher."),
]
SPAM = [
    "FREE NITRO giveaway!!! claim now at https://bit.ly/fr33-n1tro before it ends",
    "Earn 500 dollars a day from home, DM me now https://tinyurl.com/easy-cash-now",
    "FREE NITRO giveaway!!! claim now at https://bit.ly/fr33-n1tro before it ends",
]
TOXIC_RU = [
    "ты тупой идиот, заткнись уже",
    "вы все дебилы, разработчики криворукие уроды",
    "иди нахуй со своими советами, урод",
]
CONFLICT = [
    ("dave", "honestly the balance changes are fine"),
    ("erin", "they are not, you clearly do not play ranked"),
    ("dave", "I play more ranked than you ever will"),
    ("erin", "sure, keep telling yourself that"),
    ("dave", "you are so annoying, every single thread"),
    ("erin", "and you are clueless about this game"),
    ("dave", "shut up, nobody asked you"),
    ("erin", "you are a complete idiot"),
    ("dave", "get lost, you pathetic moron"),
    ("erin", "this is exactly why nobody likes you, loser"),
]

_BY_PLATFORM: dict[Platform, list[str]] = {
    "slack": ["alice", "bob", "carol", "frank", "grace", "dave", "erin"],
    "telegram": ["anya", "boris", "vika", "egor", "katya"],
    "discord": ["max", "nina", "oscar", "petra"],
}


def _channel(platform: Platform, rng: random.Random, *, feedback: bool = False) -> str:
    if platform == "slack":
        return SLACK_CHANNELS["feedback" if feedback else rng.choice(["general", "general"])]
    if platform == "discord":
        return DISCORD_CHANNELS["bugs" if feedback else "general"]
    if platform == "telegram":
        return TELEGRAM_CHAT
    return GITHUB_REPO


def script(now: datetime | None = None) -> list[Item]:
    """Every item of the sample, oldest first, ending an hour before `now`."""
    end = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=DAYS)
    rng = random.Random(20261204)
    drafts: list[tuple[float, Platform, Kind, str, str, str, str]] = []

    def add(
        day: float,
        platform: Platform,
        kind: Kind,
        who: str,
        channel: str,
        text: str = "",
        title: str = "",
    ) -> None:
        drafts.append((day, platform, kind, who, channel, text, title))

    for platform, members in _BY_PLATFORM.items():
        for index, who in enumerate(members):
            add(index * 0.05, platform, "join", who, _channel(platform, rng))
    add(0.4, "discord", "join", "spam", DISCORD_CHANNELS["general"])

    # Chatter: every day, every platform; Alice and Anya are the most active.
    for day in range(DAYS):
        for platform, members in _BY_PLATFORM.items():
            chatter = CHATTER_RU if platform == "telegram" else CHATTER_EN
            for _ in range(rng.randint(3, 5)):
                weights = [4 if who in ("alice", "anya", "max") else 1 for who in members]
                who = rng.choices(members, weights=weights)[0]
                add(
                    day + rng.random() * 0.9,
                    platform,
                    "message",
                    who,
                    _channel(platform, rng),
                    rng.choice(chatter),
                )
        if day % 2 == 0:
            add(
                day + 0.5,
                "slack",
                "message",
                "alice",
                SLACK_CHANNELS["general"],
                ANSWERS_EN[(day // 2) % len(ANSWERS_EN)],
            )
            add(
                day + 0.6,
                "telegram",
                "message",
                "anya",
                TELEGRAM_CHAT,
                ANSWERS_RU[(day // 2) % len(ANSWERS_RU)],
            )

    # Feedback: the crash arrives with the 1.4 update two days before the end (a spike).
    for theme, (english, russian) in FEEDBACK.items():
        first_day = DAYS - 2 if theme == "crash" else rng.randint(2, DAYS - 3)
        en_authors = ["bob", "carol", "max", "nina", "frank", "oscar", "grace", "petra"]
        ru_authors = ["boris", "vika", "egor", "katya"]
        for index, text in enumerate(english):
            who = en_authors[(index + len(theme)) % len(en_authors)]
            where: Platform = "discord" if who in _BY_PLATFORM["discord"] else "slack"
            add(
                first_day + rng.random() * 1.5,
                where,
                "message",
                who,
                _channel(where, rng, feedback=True),
                text,
            )
        for index, text in enumerate(russian):
            who = ru_authors[(index + len(theme)) % len(ru_authors)]
            add(first_day + rng.random() * 1.5, "telegram", "message", who, TELEGRAM_CHAT, text)

    for index, (title, body) in enumerate(GITHUB_ISSUES):
        author = ["ruslan", "sam"][index]
        add(DAYS - 1.8 if index == 0 else 5.0, "github", "issue", author, GITHUB_REPO, body, title)

    for index, text in enumerate(SPAM):
        add(
            6 + index * 0.01,
            "discord",
            "message",
            "spam",
            list(DISCORD_CHANNELS.values())[index % 2],
            text,
        )
    for index, text in enumerate(TOXIC_RU):
        add(8 + index * 1.5, "telegram", "message", "dima", TELEGRAM_CHAT, text)
    for index, (who, text) in enumerate(CONFLICT):
        # Within ten minutes: the argument is fast, as arguments are.
        add(DAYS - 0.4 + index * 0.0006, "slack", "message", who, SLACK_CHANNELS["offtopic"], text)

    drafts.sort(key=lambda draft: draft[0])
    items: list[Item] = []
    for seq, (when, platform, kind, who, channel, text, title) in enumerate(drafts):
        at = start + timedelta(seconds=round(when * 86400) + seq)
        items.append(Item(seq, at, platform, kind, PEOPLE[who], channel, text, title))
    return _with_reactions_and_comments(items, rng)


def _with_reactions_and_comments(items: list[Item], rng: random.Random) -> list[Item]:
    """Members react to answers, praise and feedback they share; GitHub issues get comments."""
    extra: list[Item] = []
    for item in items:
        if item.kind != "message" or item.platform == "github":
            continue
        helpful = item.text in ANSWERS_EN or item.text in ANSWERS_RU
        shared = any(item.text in en + ru for en, ru in FEEDBACK.values())
        if not (helpful or shared):
            continue
        audience = [who for who in _BY_PLATFORM[item.platform] if who != item.actor.key]
        count = rng.randint(2, 4) if helpful else rng.randint(0, 2)
        emoji = "+1" if item.platform == "slack" else "👍"
        for who in rng.sample(audience, min(count, len(audience))):
            at = item.at + timedelta(minutes=rng.randint(1, 90))
            extra.append(
                Item(
                    0,
                    at,
                    item.platform,
                    "reaction",
                    PEOPLE[who],
                    item.channel,
                    target=item.seq,
                    emoji=emoji,
                )
            )
    for item in items:
        if item.kind == "issue":
            for minutes, who, text in (
                (30, "alice_gh", "Same here, verifying the files works around it for now"),
                (90, "ruslan" if item.actor.key != "ruslan" else "sam", "+1, this one matters"),
            ):
                extra.append(
                    Item(
                        0,
                        item.at + timedelta(minutes=minutes),
                        "github",
                        "comment",
                        PEOPLE[who],
                        GITHUB_REPO,
                        text,
                        target=item.seq,
                    )
                )
    merged = sorted([*items, *extra], key=lambda item: (item.at, item.kind != "message"))
    by_old = {
        item.seq: index for index, item in enumerate(merged) if item.kind in ("message", "issue")
    }
    renumbered: list[Item] = []
    for index, item in enumerate(merged):
        target = by_old[item.target] if item.target is not None else None
        renumbered.append(
            Item(
                index,
                item.at,
                item.platform,
                item.kind,
                item.actor,
                item.channel,
                item.text,
                item.title,
                target,
                item.emoji,
            )
        )
    return renumbered
