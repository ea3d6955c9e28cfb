"""GitHub webhook deliveries to canonical community events.

The X-GitHub-Event header names the event and the body's `action` what happened. Mapped:

- issues.opened → community.issue.opened
- issue_comment.created → community.issue.commented (kind=issue_comment; comments on pull
  requests arrive here too, with is_pull_request=True)
- pull_request.opened → community.pull_request.opened
- pull_request_review_comment.created → community.issue.commented (kind=review_comment)
- discussion.created → community.thread.created
- discussion.answered → community.answer.accepted (object_actor: the answer's author)
- discussion_comment.created → community.message.created
- star.created and fork → community.member.joined (kind=star | fork). An open-source
  community has no join button: starring or forking a repository is how people step in,
  so these are the joins a community manager counts and welcomes.
- ping and everything else → ignored with a reason.

Conventions of this module:
- the actor is always `sender`, who did what the delivery reports.
- channel_id is the repository's full_name; workspace_id the organization's login, else the
  repository owner's.
- thread_id is the issue, pull request or discussion *number*, not its id: numbers are what
  members see (#4), are unique per repository across the three kinds, and make a comment on
  a pull request land in the same thread whether GitHub sends it as issue_comment or as
  pull_request_review_comment. The ids are kept in attributes.
- parent_id of a comment is the comment it replies to, else its issue/PR/discussion number.
- attributes["message_id"] is what a connector would act on: the comment id for comments,
  the number for issues, pull requests and discussions.
- dedup_key is `github:{delivery_id}`: a redelivery keeps the X-GitHub-Delivery GUID.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform

MAX_TEXT = 100_000
MAX_TITLE = 1_000

_LINK = re.compile(r"https?://[^\s<>()\[\]\"'`]+")


def normalize_github(
    event_name: str,
    delivery_id: str,
    payload: Mapping[str, Any],
    ctx: BindingContext,
    *,
    received_at: datetime,
) -> Normalized:
    """Turn one webhook delivery into canonical events or a reason to ignore it."""
    if event_name == "ping":
        return Normalized(ignored="ping")
    handler = _HANDLERS.get(event_name)
    if handler is None:
        return Normalized(ignored=f"GitHub event {event_name!r} is not mapped")
    if not delivery_id:
        raise MalformedPayload("GitHub delivery has no X-GitHub-Delivery id")
    try:
        return handler(_Delivery(event_name, delivery_id, payload, ctx, received_at))
    except ValidationError as error:
        raise MalformedPayload(f"GitHub delivery does not fit: {_problems(error)}") from None


@dataclass(frozen=True)
class _Delivery:
    """One delivery and what every event made from it shares."""

    event_name: str
    delivery_id: str
    payload: Mapping[str, Any]
    ctx: BindingContext
    received_at: datetime

    @property
    def action(self) -> Any:
        return self.payload.get("action")

    def ignore_action(self) -> Normalized:
        return Normalized(ignored=f"GitHub {self.event_name}.{self.action} is not mapped")

    def build(
        self,
        type_: CommunityEventType,
        *,
        occurred_at: datetime | None,
        thread_id: str | None = None,
        parent_id: str | None = None,
        object_actor: Actor | None = None,
        content: Content | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Normalized:
        repository = _mapping(self.payload, "repository", "repository")
        organization = self.payload.get("organization")
        if isinstance(organization, Mapping) and organization.get("login"):
            workspace_id = organization["login"]
        else:
            workspace_id = _text(
                _mapping(repository, "owner", "repository.owner"), "login", "repository.owner.login"
            )
        event = CommunityEvent(
            type=type_,
            occurred_at=occurred_at or self.received_at,
            ingested_at=self.received_at,
            tenant_id=self.ctx.tenant_id,
            community_id=self.ctx.community_id,
            platform=Platform.GITHUB,
            workspace_id=workspace_id,
            channel_id=_text(repository, "full_name", "repository.full_name"),
            thread_id=thread_id,
            parent_id=parent_id,
            source_event_id=self.delivery_id,
            dedup_key=f"github:{self.delivery_id}",
            actor=_user(self.payload.get("sender"), "sender"),
            object_actor=object_actor,
            content=content,
            attributes={k: v for k, v in (attributes or {}).items() if v is not None},
        )
        return Normalized(events=(event,))


def _issues(delivery: _Delivery) -> Normalized:
    if delivery.action != "opened":
        return delivery.ignore_action()
    issue = _mapping(delivery.payload, "issue", "issue")
    number = str(_number(issue, "issue"))
    return delivery.build(
        CommunityEventType.ISSUE_OPENED,
        occurred_at=_time(issue.get("created_at"), "issue.created_at"),
        thread_id=number,
        content=_content(issue, title=True),
        attributes={
            "number": issue["number"],
            "issue_id": issue.get("id"),
            "message_id": issue["number"],
            "author_association": issue.get("author_association"),
            **_clipped(issue),
        },
    )


def _issue_comment(delivery: _Delivery) -> Normalized:
    if delivery.action != "created":
        return delivery.ignore_action()
    issue = _mapping(delivery.payload, "issue", "issue")
    comment = _mapping(delivery.payload, "comment", "comment")
    number = str(_number(issue, "issue"))
    pull_request = issue.get("pull_request")
    return delivery.build(
        CommunityEventType.ISSUE_COMMENTED,
        occurred_at=_time(comment.get("created_at"), "comment.created_at"),
        thread_id=number,
        parent_id=number,
        object_actor=_optional_user(issue.get("user"), "issue.user"),
        content=_content(comment),
        attributes={
            "kind": "issue_comment",
            "number": issue["number"],
            "issue_id": issue.get("id"),
            "thread_title": issue.get("title"),
            "message_id": _native_id(comment, "comment"),
            "is_pull_request": isinstance(pull_request, Mapping),
            "pull_request_url": pull_request.get("html_url")
            if isinstance(pull_request, Mapping)
            else None,
            "author_association": comment.get("author_association"),
            **_clipped(comment),
        },
    )


def _pull_request(delivery: _Delivery) -> Normalized:
    if delivery.action != "opened":
        return delivery.ignore_action()
    pull = _mapping(delivery.payload, "pull_request", "pull_request")
    number = str(_number(pull, "pull_request"))
    return delivery.build(
        CommunityEventType.PULL_REQUEST_OPENED,
        occurred_at=_time(pull.get("created_at"), "pull_request.created_at"),
        thread_id=number,
        content=_content(pull, title=True),
        attributes={
            "number": pull["number"],
            "pull_request_id": pull.get("id"),
            "message_id": pull["number"],
            "draft": pull.get("draft"),
            "author_association": pull.get("author_association"),
            **_clipped(pull),
        },
    )


def _review_comment(delivery: _Delivery) -> Normalized:
    if delivery.action != "created":
        return delivery.ignore_action()
    pull = _mapping(delivery.payload, "pull_request", "pull_request")
    comment = _mapping(delivery.payload, "comment", "comment")
    number = str(_number(pull, "pull_request"))
    in_reply_to = comment.get("in_reply_to_id")
    return delivery.build(
        CommunityEventType.ISSUE_COMMENTED,
        occurred_at=_time(comment.get("created_at"), "comment.created_at"),
        thread_id=number,
        parent_id=str(in_reply_to) if in_reply_to else number,
        object_actor=None if in_reply_to else _optional_user(pull.get("user"), "pull_request.user"),
        content=_content(comment),
        attributes={
            "kind": "review_comment",
            "number": pull["number"],
            "pull_request_id": pull.get("id"),
            "thread_title": pull.get("title"),
            "message_id": _native_id(comment, "comment"),
            "is_pull_request": True,
            "path": comment.get("path"),
            "line": comment.get("line"),
            "commit_id": comment.get("commit_id"),
            "author_association": comment.get("author_association"),
            **_clipped(comment),
        },
    )


def _discussion(delivery: _Delivery) -> Normalized:
    discussion = _mapping(delivery.payload, "discussion", "discussion")
    if delivery.action == "created":
        number = str(_number(discussion, "discussion"))
        return delivery.build(
            CommunityEventType.THREAD_CREATED,
            occurred_at=_time(discussion.get("created_at"), "discussion.created_at"),
            thread_id=number,
            content=_content(discussion, title=True),
            attributes={
                **_discussion_attributes(discussion),
                "message_id": discussion["number"],
                **_clipped(discussion),
            },
        )
    if delivery.action == "answered":
        answer = _mapping(delivery.payload, "answer", "answer")
        return delivery.build(
            CommunityEventType.ANSWER_ACCEPTED,
            occurred_at=_time(discussion.get("answer_chosen_at"), "discussion.answer_chosen_at")
            or _time(answer.get("updated_at"), "answer.updated_at"),
            thread_id=str(_number(discussion, "discussion")),
            parent_id=_id(answer, "answer"),
            object_actor=_user(answer.get("user"), "answer.user"),
            content=Content(url=answer.get("html_url")),
            attributes={
                **_discussion_attributes(discussion),
                "message_id": _native_id(answer, "answer"),
            },
        )
    return delivery.ignore_action()


def _discussion_comment(delivery: _Delivery) -> Normalized:
    if delivery.action != "created":
        return delivery.ignore_action()
    discussion = _mapping(delivery.payload, "discussion", "discussion")
    comment = _mapping(delivery.payload, "comment", "comment")
    number = str(_number(discussion, "discussion"))
    reply_to = comment.get("parent_id")
    # A reply to a comment answers that comment's author, whom the payload does not name.
    answered = None if reply_to else _optional_user(discussion.get("user"), "discussion.user")
    return delivery.build(
        CommunityEventType.MESSAGE_CREATED,
        occurred_at=_time(comment.get("created_at"), "comment.created_at"),
        thread_id=number,
        parent_id=str(reply_to) if reply_to else number,
        object_actor=answered,
        content=_content(comment),
        attributes={
            **_discussion_attributes(discussion),
            "message_id": _native_id(comment, "comment"),
            "author_association": comment.get("author_association"),
            **_clipped(comment),
        },
    )


def _star(delivery: _Delivery) -> Normalized:
    if delivery.action != "created":
        return delivery.ignore_action()
    return delivery.build(
        CommunityEventType.MEMBER_JOINED,
        occurred_at=_time(delivery.payload.get("starred_at"), "starred_at"),
        attributes={"kind": "star"},
    )


def _fork(delivery: _Delivery) -> Normalized:
    forkee = _mapping(delivery.payload, "forkee", "forkee")
    return delivery.build(
        CommunityEventType.MEMBER_JOINED,
        occurred_at=_time(forkee.get("created_at"), "forkee.created_at"),
        attributes={"kind": "fork", "fork_full_name": forkee.get("full_name")},
    )


_HANDLERS: dict[str, Callable[[_Delivery], Normalized]] = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "pull_request": _pull_request,
    "pull_request_review_comment": _review_comment,
    "discussion": _discussion,
    "discussion_comment": _discussion_comment,
    "star": _star,
    "fork": _fork,
}


def _user(value: Any, path: str) -> Actor:
    """A GitHub account: id → platform_user_id, login → username, type Bot → is_bot."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"GitHub payload has no {path}")
    return Actor(
        platform_user_id=_id(value, path),
        username=_text(value, "login", f"{path}.login"),
        is_bot=value.get("type") == "Bot",
    )


def _optional_user(value: Any, path: str) -> Actor | None:
    return _user(value, path) if isinstance(value, Mapping) else None


def _content(item: Mapping[str, Any], *, title: bool = False) -> Content:
    raw = item.get("body")
    body = raw if isinstance(raw, str) else ""
    heading = item.get("title") if title and isinstance(item.get("title"), str) else None
    return Content(
        title=heading[:MAX_TITLE] if heading else None,
        text=body[:MAX_TEXT] or None,
        url=item.get("html_url"),
        links=list(dict.fromkeys(_LINK.findall(body))),
    )


def _clipped(item: Mapping[str, Any]) -> dict[str, Any]:
    body = item.get("body")
    return {"text_truncated": True} if isinstance(body, str) and len(body) > MAX_TEXT else {}


def _discussion_attributes(discussion: Mapping[str, Any]) -> dict[str, Any]:
    category = discussion.get("category")
    category = category if isinstance(category, Mapping) else {}
    return {
        "number": discussion.get("number"),
        "discussion_id": discussion.get("id"),
        "category": category.get("name"),
        "category_slug": category.get("slug"),
        "answerable": category.get("is_answerable"),
    }


def _number(item: Mapping[str, Any], path: str) -> int:
    number = item.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise MalformedPayload(f"GitHub payload has no {path}.number")
    return number


def _native_id(item: Mapping[str, Any], path: str) -> int | str:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise MalformedPayload(f"GitHub payload has no {path}.id")
    return value


def _id(item: Mapping[str, Any], path: str) -> str:
    return str(_native_id(item, path))


def _text(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"GitHub payload has no {path}")
    return value


def _mapping(obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"GitHub payload has no {path}")
    return value


def _time(value: Any, path: str) -> datetime | None:
    """GitHub's ISO 8601 timestamps ("2019-05-15T15:20:18Z", or with an offset) in UTC."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedPayload(f"GitHub payload has a malformed {path}: {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _problems(error: ValidationError) -> str:
    """Where validation failed, without the offending values (they may be member text)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)
    )
