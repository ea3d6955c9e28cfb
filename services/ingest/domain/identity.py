"""Who is who across platforms: suggestions to link identities, and merge bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownIdentity:
    """An identity as the repository returns it."""

    member_id: str
    platform: str
    platform_user_id: str
    username: str | None
    display_name: str | None
    is_bot: bool = False


@dataclass(frozen=True)
class Suggestion:
    """Another member that is probably the same person."""

    member_id: str
    confidence: float
    reason: str


def _norm(value: str | None) -> str | None:
    if not value:
        return None
    cleaned = value.strip().lstrip("@").casefold()
    return cleaned or None


def suggest_links(
    mine: Sequence[KnownIdentity], others: Iterable[KnownIdentity]
) -> list[Suggestion]:
    """Rank other members sharing a username or display name with `mine`, best first.

    The same username on two different platforms is strong evidence (0.8); on the same
    platform it cannot be the same account, so it does not count. A shared display name
    is weaker (0.5), and bots are never suggested.
    """
    my_platforms = {identity.platform for identity in mine}
    usernames = {_norm(i.username): i.platform for i in mine if _norm(i.username)}
    names = {_norm(i.display_name) for i in mine if _norm(i.display_name)}
    best: dict[str, Suggestion] = {}
    for other in others:
        if other.is_bot or other.member_id in {i.member_id for i in mine}:
            continue
        candidate: Suggestion | None = None
        username = _norm(other.username)
        if username in usernames and other.platform not in my_platforms:
            candidate = Suggestion(
                other.member_id,
                0.8,
                f"same username '{username}' on {usernames[username]} and {other.platform}",
            )
        elif _norm(other.display_name) in names:
            candidate = Suggestion(
                other.member_id, 0.5, f"same display name '{other.display_name}'"
            )
        if candidate and (
            candidate.member_id not in best
            or candidate.confidence > best[candidate.member_id].confidence
        ):
            best[candidate.member_id] = candidate
    return sorted(best.values(), key=lambda s: (-s.confidence, s.member_id))
