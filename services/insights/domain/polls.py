"""A poll's answers added up: options, members, core vs the rest, new vs long-standing.

Pure. Each voter counts once, with their latest answer (a changed vote replaces the
earlier one; a retracted vote, no options and no text, is left out). A member is "new"
when first seen in the community less than `new_within` before answering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Answer:
    """One voter's latest answer to a poll or survey question."""

    voter: str
    """The member id, or `platform:user id` until ingest knows the member."""
    options: tuple[str, ...]
    text: str | None
    answered_at: datetime


@dataclass
class OptionCount:
    """Votes for one option, split by who cast them."""

    option: str
    votes: int = 0
    core: int = 0
    rest: int = 0
    new: int = 0
    long_standing: int = 0


@dataclass
class PollTally:
    """A poll's results."""

    voters: int
    core_voters: int | None
    """None while the community's core is unknown."""
    new_voters: int
    options: list[OptionCount] = field(default_factory=list)
    texts: list[int] = field(default_factory=list)
    """Indexes (into the answers given) of the answers with free text."""


def tally(
    answers: Sequence[Answer],
    *,
    core: set[str] | None,
    first_seen: dict[str, datetime],
    new_within: timedelta,
) -> PollTally:
    """Count the answers per option, by core and by tenure, most votes first."""
    counted = [a for a in answers if a.options or a.text]
    options: dict[str, OptionCount] = {}
    new_voters = core_voters = 0
    texts = []
    for index, answer in enumerate(answers):
        if not (answer.options or answer.text):
            continue
        if answer.text:
            texts.append(index)
        is_core = core is not None and answer.voter in core
        seen = first_seen.get(answer.voter, answer.answered_at)
        is_new = answer.answered_at - seen < new_within
        core_voters += is_core
        new_voters += is_new
        for option in dict.fromkeys(answer.options):
            count = options.setdefault(option, OptionCount(option))
            count.votes += 1
            count.core += is_core
            count.rest += not is_core
            count.new += is_new
            count.long_standing += not is_new
    return PollTally(
        voters=len(counted),
        core_voters=core_voters if core is not None else None,
        new_voters=new_voters,
        options=sorted(options.values(), key=lambda c: (-c.votes, c.option)),
        texts=texts,
    )
