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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import (
    MAX_TITLE,
    EventFields,
    bare_links,
    clip,
    handled,
    iso_time,
    mapping,
    native_id,
    one_event,
    required_int,
    required_str,
    string_id,
    truncation,
)
from shared.events.community import Actor, CommunityEventType, Content, Platform


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
    delivery = _Delivery(event_name, delivery_id, payload, ctx, received_at)
    return handled(handler, delivery, what="GitHub delivery")


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
        **fields: Unpack[EventFields],
    ) -> Normalized:
        repository = mapping(self.payload, "repository", "repository")
        organization = self.payload.get("organization")
        if isinstance(organization, Mapping) and organization.get("login"):
            workspace_id = organization["login"]
        else:
            owner = mapping(repository, "owner", "repository.owner")
            workspace_id = required_str(owner, "login", "repository.owner.login")
        channel_id = required_str(repository, "full_name", "repository.full_name")
        return one_event(
            self.ctx,
            Platform.GITHUB,
            type_,
            received_at=self.received_at,
            occurred_at=occurred_at,
            workspace_id=workspace_id,
            channel_id=channel_id,
            source_event_id=self.delivery_id,
            dedup_key=f"github:{self.delivery_id}",
            actor=_user(self.payload, "sender", "sender"),
            **fields,
        )


def _opened(key: str, type_: CommunityEventType, *copied: str) -> Callable[[_Delivery], Normalized]:
    """issues.opened and pull_request.opened: the thread an issue or a pull request starts.

    `copied` names fields of the item kept in attributes as they are.
    """

    def handle(delivery: _Delivery) -> Normalized:
        if delivery.action != "opened":
            return delivery.ignore_action()
        item = mapping(delivery.payload, key, key)
        number = required_int(item, "number", f"{key}.number")
        return delivery.build(
            type_,
            occurred_at=iso_time(item, "created_at", f"{key}.created_at"),
            thread_id=str(number),
            content=_content(item, title=True),
            attributes={
                "number": number,
                f"{key}_id": item.get("id"),
                "message_id": number,
                **{name: item.get(name) for name in copied},
                "author_association": item.get("author_association"),
                **truncation(item.get("body")),
            },
        )

    return handle


def _discussion(delivery: _Delivery) -> Normalized:
    discussion = mapping(delivery.payload, "discussion", "discussion")
    if delivery.action == "created":
        number = required_int(discussion, "number", "discussion.number")
        return delivery.build(
            CommunityEventType.THREAD_CREATED,
            occurred_at=iso_time(discussion, "created_at", "discussion.created_at"),
            thread_id=str(number),
            content=_content(discussion, title=True),
            attributes={
                **_discussion_attributes(discussion),
                "message_id": number,
                **truncation(discussion.get("body")),
            },
        )
    if delivery.action == "answered":
        answer = mapping(delivery.payload, "answer", "answer")
        return delivery.build(
            CommunityEventType.ANSWER_ACCEPTED,
            occurred_at=iso_time(discussion, "answer_chosen_at", "discussion.answer_chosen_at")
            or iso_time(answer, "updated_at", "answer.updated_at"),
            thread_id=str(required_int(discussion, "number", "discussion.number")),
            parent_id=string_id(answer, "id", "answer.id"),
            object_actor=_user(answer, "user", "answer.user"),
            content=Content(url=answer.get("html_url")),
            attributes={
                **_discussion_attributes(discussion),
                "message_id": native_id(answer, "id", "answer.id"),
            },
        )
    return delivery.ignore_action()


def _commented(
    key: str,
    type_: CommunityEventType,
    *,
    reply_key: str | None,
    describe: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]],
) -> Callable[[_Delivery], Normalized]:
    """A comment created in an issue, pull request or discussion (the payload's `key`).

    It answers the comment its `reply_key` names, else the thread and the thread's author;
    `describe(thread, comment)` gives the attributes particular to the kind of thread.
    """

    def handle(delivery: _Delivery) -> Normalized:
        if delivery.action != "created":
            return delivery.ignore_action()
        thread = mapping(delivery.payload, key, key)
        comment = mapping(delivery.payload, "comment", "comment")
        reply_to = comment.get(reply_key) if reply_key else None
        number = required_int(thread, "number", f"{key}.number")
        return delivery.build(
            type_,
            occurred_at=iso_time(comment, "created_at", "comment.created_at"),
            thread_id=str(number),
            parent_id=str(reply_to) if reply_to else str(number),
            # A reply to a comment answers that comment's author, whom the payload does not name.
            object_actor=None if reply_to else _optional_user(thread, "user", f"{key}.user"),
            content=_content(comment),
            attributes={
                "number": number,
                **describe(thread, comment),
                "message_id": native_id(comment, "id", "comment.id"),
                "author_association": comment.get("author_association"),
                **truncation(comment.get("body")),
            },
        )

    return handle


def _issue_attributes(issue: Mapping[str, Any], comment: Mapping[str, Any]) -> dict[str, Any]:
    pull_request = issue.get("pull_request")
    return {
        "kind": "issue_comment",
        "issue_id": issue.get("id"),
        "thread_title": issue.get("title"),
        "is_pull_request": isinstance(pull_request, Mapping),
        "pull_request_url": pull_request.get("html_url")
        if isinstance(pull_request, Mapping)
        else None,
    }


def _review_attributes(pull: Mapping[str, Any], comment: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "review_comment",
        "pull_request_id": pull.get("id"),
        "thread_title": pull.get("title"),
        "is_pull_request": True,
        "path": comment.get("path"),
        "line": comment.get("line"),
        "commit_id": comment.get("commit_id"),
    }


def _star(delivery: _Delivery) -> Normalized:
    if delivery.action != "created":
        return delivery.ignore_action()
    return delivery.build(
        CommunityEventType.MEMBER_JOINED,
        occurred_at=iso_time(delivery.payload, "starred_at", "starred_at"),
        attributes={"kind": "star"},
    )


def _fork(delivery: _Delivery) -> Normalized:
    forkee = mapping(delivery.payload, "forkee", "forkee")
    return delivery.build(
        CommunityEventType.MEMBER_JOINED,
        occurred_at=iso_time(forkee, "created_at", "forkee.created_at"),
        attributes={"kind": "fork", "fork_full_name": forkee.get("full_name")},
    )


_HANDLERS: dict[str, Callable[[_Delivery], Normalized]] = {
    "issues": _opened("issue", CommunityEventType.ISSUE_OPENED),
    "issue_comment": _commented(
        "issue", CommunityEventType.ISSUE_COMMENTED, reply_key=None, describe=_issue_attributes
    ),
    "pull_request": _opened("pull_request", CommunityEventType.PULL_REQUEST_OPENED, "draft"),
    "pull_request_review_comment": _commented(
        "pull_request",
        CommunityEventType.ISSUE_COMMENTED,
        reply_key="in_reply_to_id",
        describe=_review_attributes,
    ),
    "discussion": _discussion,
    "discussion_comment": _commented(
        "discussion",
        CommunityEventType.MESSAGE_CREATED,
        reply_key="parent_id",
        describe=lambda discussion, _: _discussion_attributes(discussion),
    ),
    "star": _star,
    "fork": _fork,
}


def _user(parent: Mapping[str, Any], key: str, path: str) -> Actor:
    """A GitHub account: id → platform_user_id, login → username, type Bot → is_bot."""
    user = mapping(parent, key, path)
    return Actor(
        platform_user_id=string_id(user, "id", f"{path}.id"),
        username=required_str(user, "login", f"{path}.login"),
        is_bot=user.get("type") == "Bot",
    )


def _optional_user(parent: Mapping[str, Any], key: str, path: str) -> Actor | None:
    return _user(parent, key, path) if isinstance(parent.get(key), Mapping) else None


def _content(item: Mapping[str, Any], *, title: bool = False) -> Content:
    raw = item.get("body")
    body = raw if isinstance(raw, str) else ""
    heading = item.get("title") if title and isinstance(item.get("title"), str) else None
    return Content(
        title=clip(heading, MAX_TITLE),
        text=clip(body),
        url=item.get("html_url"),
        links=bare_links(body),
    )


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
