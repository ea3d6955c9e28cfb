"""Moderation actions and role grants on GitHub, through githubkit's REST client.

Ids. The binding's external_id is `org` or `org/repo`; every action stays inside that org.
- action.channel_id is the repository, "owner/repo" (ingest's channel_id); when absent the
  binding's repository is used.
- action.message_id says which kind of thing it names, because GitHub numbers issues and
  ids comments from different sequences:
    "issue:12" or "pr:12"   the issue or pull request numbered 12 (a thread)
    "comment:345"           the issue or pull-request conversation comment with id 345
    "review_comment:678"    the pull-request review (diff) comment with id 678
  A bare number is refused as ambiguous.
- platform_user_id is the account id that ingest records (digits; resolved to the login
  with GET /user/{id}) or a login. A login made only of digits would be read as an id.

| action       | REST call                                                            |
|--------------|----------------------------------------------------------------------|
| delete       | DELETE …/issues/comments/{id} or …/pulls/comments/{id}                |
| hide         | GraphQL minimizeComment on the comment's node id (read over REST)     |
| warn         | POST …/issues/{number}/comments (for a comment: on its issue or PR)   |
| mute         | unsupported: GitHub has no per-user mute                              |
| ban          | PUT /orgs/{org}/blocks/{login}                                       |
| unban        | DELETE /orgs/{org}/blocks/{login}                                    |
| role grant   | PUT / DELETE /orgs/{org}/teams/{role_id}/memberships/{login}          |

Hide minimizes the comment ("hidden as spam / abuse / off-topic" on GitHub; a maintainer
can show it again): GraphQL's minimizeComment, which REST lacks. The comment's node id
comes from GET …/comments/{id}; the classifier is SPAM when the reason mentions spam,
OFF_TOPIC when it says off-topic, else ABUSE. Issues and pull requests themselves cannot
be deleted over REST nor minimized. The blocks API has no duration, so a
timed ban is refused. A team grant to someone outside the org sends an org invitation.

githubkit's auto-retry and HTTP cache are off: the executor owns retries, and a cached
answer must never stand in for a moderation call.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NoReturn

from githubkit import GitHub, Response
from githubkit.exception import GraphQLFailed, RateLimitExceeded, RequestError, RequestFailed

from services.ingest.outbound.base import (
    InvalidAction,
    PermanentPlatformError,
    RateLimited,
    RoleGrant,
    TransientPlatformError,
    Unsupported,
    credential,
    redact,
    require,
)
from shared.events.community import Platform
from shared.events.payloads import ActionKind, ModerationAction

DEFAULT_BASE_URL: Final = "https://api.github.com"
WARNING_TEXT: Final = "A moderator flagged this as breaking the community's code of conduct."

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = re.compile(rf"({_OWNER})/([A-Za-z0-9._-]{{1,100}})")
_EXTERNAL_ID = re.compile(rf"({_OWNER})(?:/[A-Za-z0-9._-]{{1,100}})?")
_LOGIN = re.compile(_OWNER)
_ACCOUNT_ID = re.compile(r"\d{1,20}")
_TEAM_SLUG = re.compile(r"[A-Za-z0-9._-]{1,100}")
_MESSAGE = re.compile(r"(issue|pr|comment|review_comment):(\d{1,20})")
_NUMBER_IN_URL = re.compile(r"/(?:issues|pulls)/(\d+)$")
_TEXT_LIMIT = 65_000
_RATE_LIMIT_FALLBACK = 60.0
_NODE_ID = re.compile(r"[A-Za-z0-9_=-]{1,100}")
_MINIMIZE = """
mutation($subject: ID!, $classifier: ReportedContentClassifiers!) {
  minimizeComment(input: {subjectId: $subject, classifier: $classifier}) {
    minimizedComment { isMinimized minimizedReason }
  }
}
"""


class GitHubClient:
    """A PlatformClient for one token (a fine-grained PAT or an installation token)."""

    def __init__(self, credentials: Mapping[str, str], base_url: str = DEFAULT_BASE_URL) -> None:
        self._token = credential(credentials, Platform.GITHUB, "token")
        self._github = GitHub(
            self._token, base_url=base_url, auto_retry=False, http_cache=False, timeout=10.0
        )

    def __repr__(self) -> str:
        return "GitHubClient(<token hidden>)"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to close: githubkit opens a client per request outside `async with`."""

    async def apply(self, action: ModerationAction, *, external_id: str) -> None:
        """Carry out one moderation action inside the binding's organization."""
        org = _org(external_id)
        kind = action.action
        if kind in (ActionKind.MUTE, ActionKind.UNMUTE):
            raise Unsupported(
                "GitHub has no per-user mute; block the user (ban) or set interaction "
                "limits on the repository"
            )
        if kind in (ActionKind.BAN, ActionKind.UNBAN):
            if kind is ActionKind.BAN and action.duration_seconds is not None:
                raise Unsupported("GitHub's blocks API has no duration; ban, then unban later")
            login = await self._login(action.platform_user_id)
            blocks = self._github.rest.orgs
            if kind is ActionKind.BAN:
                await self._call("block user", lambda: blocks.async_block_user(org, login))
            else:
                await self._call("unblock user", lambda: blocks.async_unblock_user(org, login))
            return
        owner, repo = _repository(action.channel_id, external_id, org)
        what, number = _message(action.message_id)
        issues, pulls = self._github.rest.issues, self._github.rest.pulls
        if kind is ActionKind.HIDE:
            await self._minimize(owner, repo, what, number, action.reason)
        elif kind is ActionKind.DELETE:
            if what == "comment":
                await self._call(
                    "delete comment", lambda: issues.async_delete_comment(owner, repo, number)
                )
            elif what == "review_comment":
                await self._call(
                    "delete review comment",
                    lambda: pulls.async_delete_review_comment(owner, repo, number),
                )
            else:
                raise Unsupported(
                    "GitHub's REST API cannot delete an issue or pull request; close or lock it"
                )
        elif kind is ActionKind.WARN:
            thread, about = await self._thread(owner, repo, what, number)
            text = (action.reason or WARNING_TEXT)[:_TEXT_LIMIT]
            body = f"{text}\n\n(about {about})" if about else text
            await self._call(
                "create comment",
                lambda: issues.async_create_comment(owner, repo, thread, data={"body": body}),
            )
        else:  # pragma: no cover - ActionKind is closed; a new kind must be mapped here
            raise InvalidAction(f"unknown action {kind}")

    async def grant_role(self, grant: RoleGrant, *, external_id: str) -> None:
        """Add the member to, or remove them from, the org team whose slug is role_id."""
        org = _org(external_id)
        if grant.workspace_id.lower() != org.lower():
            raise InvalidAction(f"org {grant.workspace_id} is not the binding's {org}")
        team = require(grant.role_id, "role_id", _TEAM_SLUG)
        login = await self._login(grant.platform_user_id)
        teams = self._github.rest.teams
        if grant.grant:
            await self._call(
                "add team member",
                lambda: teams.async_add_or_update_membership_for_user_in_org(
                    org, team, login, data={"role": "member"}
                ),
            )
        else:
            await self._call(
                "remove team member",
                lambda: teams.async_remove_membership_for_user_in_org(org, team, login),
            )

    async def _minimize(
        self, owner: str, repo: str, what: str, number: int, reason: str | None
    ) -> None:
        """Hide a comment behind GitHub's "this comment was marked as …" fold."""
        if what == "comment":
            issues = self._github.rest.issues
            found = await self._call(
                "get comment", lambda: issues.async_get_comment(owner, repo, number)
            )
        elif what == "review_comment":
            pulls = self._github.rest.pulls
            found = await self._call(
                "get review comment", lambda: pulls.async_get_review_comment(owner, repo, number)
            )
        else:
            raise Unsupported(
                "GitHub cannot hide an issue or pull request, only comments; lock or close it"
            )
        node_id = _field(found, "node_id")
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
            raise PermanentPlatformError(None, f"github: {what} {number} has no node id")
        variables = {"subject": node_id, "classifier": _classifier(reason)}
        try:
            data = await self._github.async_graphql(_MINIMIZE, variables)
        except GraphQLFailed as exc:
            kinds = sorted({str(error.type or "ERROR") for error in exc.response.errors or ()})
            raise PermanentPlatformError(
                200, f"github minimize comment: {', '.join(kinds)}"
            ) from None
        except RateLimitExceeded as exc:
            raise RateLimited(
                exc.retry_after.total_seconds(),
                status=exc.response.status_code,
                detail="github minimize comment: rate limited",
            ) from None
        except RequestFailed as exc:
            self._raise_for(exc, "minimize comment")
        except RequestError as exc:
            raise TransientPlatformError(
                f"github minimize comment: {type(exc.exc).__name__}"
            ) from None
        minimized = (data.get("minimizeComment") or {}).get("minimizedComment") or {}
        if minimized.get("isMinimized") is not True:
            raise PermanentPlatformError(200, "github minimize comment: not minimized")

    async def _login(self, platform_user_id: str | None) -> str:
        if platform_user_id is not None and _ACCOUNT_ID.fullmatch(platform_user_id):
            users = self._github.rest.users
            found = await self._call(
                "get user", lambda: users.async_get_by_id(int(platform_user_id))
            )
            login = _field(found, "login")
            if isinstance(login, str) and _LOGIN.fullmatch(login):
                return login
            raise PermanentPlatformError(None, f"github get user: no login for {platform_user_id}")
        return require(platform_user_id, "platform_user_id", _LOGIN)

    async def _thread(self, owner: str, repo: str, what: str, number: int) -> tuple[int, str]:
        """The issue/PR number a warning goes to, and the comment it is about (a URL)."""
        if what in ("issue", "pr"):
            return number, ""
        if what == "comment":
            issues = self._github.rest.issues
            found = await self._call(
                "get comment", lambda: issues.async_get_comment(owner, repo, number)
            )
            parent_url = _field(found, "issue_url")
        else:
            pulls = self._github.rest.pulls
            found = await self._call(
                "get review comment", lambda: pulls.async_get_review_comment(owner, repo, number)
            )
            parent_url = _field(found, "pull_request_url")
        match = _NUMBER_IN_URL.search(parent_url) if isinstance(parent_url, str) else None
        if match is None:
            raise PermanentPlatformError(None, f"github: {what} {number} names no issue or PR")
        about = _field(found, "html_url")
        return int(match.group(1)), about if isinstance(about, str) else ""

    async def _call(self, what: str, send: Callable[[], Awaitable[Response[Any]]]) -> Response[Any]:
        try:
            return await send()
        except RateLimitExceeded as exc:
            status = exc.response.status_code
            seconds = exc.retry_after.total_seconds()
            raise RateLimited(
                seconds, status=status, detail=f"github {what}: rate limited"
            ) from None
        except RequestFailed as exc:
            self._raise_for(exc, what)
        except RequestError as exc:
            raise TransientPlatformError(f"github {what}: {type(exc.exc).__name__}") from None

    def _raise_for(self, exc: RequestFailed, what: str) -> NoReturn:
        status = exc.response.status_code
        if status == 429:
            # No Retry-After or x-ratelimit-* headers: GitHub's docs say wait a minute.
            detail = f"github {what}: rate limited"
            raise RateLimited(_RATE_LIMIT_FALLBACK, status=status, detail=detail) from None
        detail = redact(f"github {what}: {status} {_message_of(exc.response)}", self._token)
        if status >= 500:
            raise TransientPlatformError(detail.strip(), status=status) from None
        raise PermanentPlatformError(status, detail.strip()) from None


def _org(external_id: str) -> str:
    match = _EXTERNAL_ID.fullmatch(external_id)
    if match is None:
        raise InvalidAction(f"external_id {external_id[:64]!r} is not a GitHub org or org/repo")
    return match.group(1)


def _repository(channel_id: str | None, external_id: str, org: str) -> tuple[str, str]:
    repository = channel_id or (external_id if "/" in external_id else None)
    owner, _, repo = require(repository, "channel_id (owner/repo)", _REPO).partition("/")
    if owner.lower() != org.lower():
        raise InvalidAction(f"repository {owner}/{repo} is outside the binding's org {org}")
    return owner, repo


def _message(message_id: str | None) -> tuple[str, int]:
    match = _MESSAGE.fullmatch(message_id or "")
    if match is None:
        raise InvalidAction(
            f"GitHub message_id {str(message_id)[:64]!r} must be issue:N, pr:N, comment:ID "
            "or review_comment:ID"
        )
    return match.group(1), int(match.group(2))


def _classifier(reason: str | None) -> str:
    text = (reason or "").lower()
    if "spam" in text:
        return "SPAM"
    if "off-topic" in text or "off topic" in text:
        return "OFF_TOPIC"
    return "ABUSE"


def _field(response: Response[Any], name: str) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None


def _message_of(response: Response[Any]) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
