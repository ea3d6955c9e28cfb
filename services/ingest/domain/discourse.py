"""Discourse webhook payloads to canonical community events.

Discourse names the event in X-Discourse-Event and sends one object keyed by its kind:
`{"post": …}`, `{"topic": …}`, `{"user": …}` or `{"like": {"post": …, "user": …}}`.

| X-Discourse-Event | payload | canonical type                                   |
|-------------------|---------|--------------------------------------------------|
| post_created      | post    | community.message.created                        |
| post_edited       | post    | community.message.edited                         |
| post_destroyed    | post    | community.message.deleted (actor: the author)    |
| topic_created     | topic   | community.thread.created                         |
| user_created      | user    | community.member.joined                          |
| post_liked        | like    | community.reaction.added (object_actor: author)  |
| ping, and the rest|         | ignored with a reason                            |

(post_liked arrives with X-Discourse-Event-Type `like`; both names are accepted.)

Conventions of this module:
- workspace_id is the instance (X-Discourse-Instance), channel_id the category id and
  thread_id the topic id.
- parent_id is a post *number* inside the topic (thread_id): Discourse gives a reply's
  `reply_to_post_number`, not the parent's id, and a like the liked post's number, so the
  two agree. attributes carry post_id, post_number and message_id (= post id).
- text is `raw` (the Markdown the member wrote); when only `cooked` HTML is present its
  text is extracted. Small-action posts ("closed this topic") are ignored: Discourse writes
  them, not members. Users with negative ids (system, discobot) are bots.
- dedup_key is `discourse:{instance}:{X-Discourse-Event-Id}`, or without that header
  `discourse:{instance}:{event}:{object id}` (plus the post version for edits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Unpack

from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.domain.payload import (
    MAX_TITLE,
    EventFields,
    bare_links,
    clip,
    handled,
    is_int,
    iso_time,
    mapping,
    one_event,
    string_id,
    truncation,
    unique,
)
from shared.events.community import Actor, CommunityEventType, Content, Platform

SMALL_ACTION_POST_TYPE = 3


def normalize_discourse(
    event: str,
    payload: Mapping[str, Any],
    ctx: BindingContext,
    *,
    instance: str,
    event_id: str | None,
    received_at: datetime,
) -> Normalized:
    """Turn one webhook delivery into canonical events or a reason to ignore it."""
    if event == "ping":
        return Normalized(ignored="ping")
    handler = _HANDLERS.get(event)
    if handler is None:
        return Normalized(ignored=f"Discourse event {event!r} is not mapped")
    if not instance:
        raise MalformedPayload("Discourse delivery has no X-Discourse-Instance")
    hook = _Hook(event, payload, ctx, instance.rstrip("/"), event_id or None, received_at)
    return handled(handler, hook, what="Discourse delivery")


@dataclass(frozen=True)
class _Hook:
    """One delivery and what every event made from it shares."""

    event: str
    payload: Mapping[str, Any]
    ctx: BindingContext
    instance: str
    event_id: str | None
    received_at: datetime

    def build(
        self,
        type_: CommunityEventType,
        *,
        object_key: str,
        actor: Actor,
        occurred_at: datetime | None,
        channel_id: str | None = None,
        **fields: Unpack[EventFields],
    ) -> Normalized:
        key = self.event_id or f"{self.event}:{object_key}"
        return one_event(
            self.ctx,
            Platform.DISCOURSE,
            type_,
            received_at=self.received_at,
            occurred_at=occurred_at,
            workspace_id=self.instance,
            channel_id=channel_id,
            source_event_id=self.event_id,
            dedup_key=f"discourse:{self.instance}:{key}",
            actor=actor,
            **fields,
        )

    def url(self, path: Any) -> str | None:
        """An absolute URL for a site-relative path such as post_url `/t/slug/12/3`."""
        if not isinstance(path, str) or not path.startswith("/"):
            return None
        return self.instance + path if self.instance.startswith(("https://", "http://")) else None


def _post(type_: CommunityEventType) -> Callable[[_Hook], Normalized]:
    def handle(hook: _Hook) -> Normalized:
        post = mapping(hook.payload, "post", "post")
        post_id = string_id(post, "id", "post.id")
        if post.get("post_type") == SMALL_ACTION_POST_TYPE:
            return Normalized(ignored=f"Discourse post {post_id} is a small action, not a message")
        topic_id = string_id(post, "topic_id", "post.topic_id")
        reply_to = post.get("reply_to_post_number")
        if type_ is CommunityEventType.MESSAGE_CREATED:
            occurred_at = iso_time(post, "created_at", "post.created_at")
        elif type_ is CommunityEventType.MESSAGE_EDITED:
            occurred_at = iso_time(post, "updated_at", "post.updated_at")
        else:
            deleted_at = iso_time(post, "deleted_at", "post.deleted_at")
            occurred_at = deleted_at or iso_time(post, "updated_at", "post.updated_at")
        version = post.get("version")
        object_key = (
            f"{post_id}:{version}" if type_ is CommunityEventType.MESSAGE_EDITED else post_id
        )
        content = None
        if type_ is not CommunityEventType.MESSAGE_DELETED:
            content = _post_content(post, hook)
        return hook.build(
            type_,
            object_key=object_key,
            actor=_user(post, "user_id", "post"),
            occurred_at=occurred_at,
            channel_id=_optional_id(post.get("category_id")),
            thread_id=topic_id,
            parent_id=str(reply_to) if reply_to else None,
            content=content,
            attributes={
                **_post_attributes(post),
                "topic_title": post.get("topic_title"),
                "topic_archetype": post.get("topic_archetype"),
                "category_slug": post.get("category_slug"),
                "post_type": post.get("post_type"),
                "version": version if type_ is CommunityEventType.MESSAGE_EDITED else None,
                "trust_level": post.get("trust_level"),
                **(_mentions(post) if content is not None else {}),
                **truncation(post.get("raw")),
            },
        )

    return handle


def _topic_created(hook: _Hook) -> Normalized:
    topic = mapping(hook.payload, "topic", "topic")
    topic_id = string_id(topic, "id", "topic.id")
    creator = topic.get("created_by")
    if isinstance(creator, Mapping):
        actor = _user(creator, "id", "topic.created_by")
    else:
        actor = Actor(platform_user_id=string_id(topic, "user_id", "topic.created_by"))
    title = topic.get("title") if isinstance(topic.get("title"), str) else None
    slug = topic.get("slug")
    return hook.build(
        CommunityEventType.THREAD_CREATED,
        object_key=topic_id,
        actor=actor,
        occurred_at=iso_time(topic, "created_at", "topic.created_at"),
        channel_id=_optional_id(topic.get("category_id")),
        thread_id=topic_id,
        content=Content(
            title=clip(title, MAX_TITLE),
            url=hook.url(f"/t/{slug}/{topic_id}") if isinstance(slug, str) and slug else None,
        ),
        attributes={
            "topic_id": topic.get("id"),
            "slug": slug,
            "archetype": topic.get("archetype"),
            "tags": topic.get("tags") or None,
        },
    )


def _user_created(hook: _Hook) -> Normalized:
    user = mapping(hook.payload, "user", "user")
    actor = _user(user, "id", "user")
    return hook.build(
        CommunityEventType.MEMBER_JOINED,
        object_key=actor.platform_user_id,
        actor=actor,
        occurred_at=iso_time(user, "created_at", "user.created_at"),
        attributes={"trust_level": user.get("trust_level")},
    )


def _post_liked(hook: _Hook) -> Normalized:
    like = mapping(hook.payload, "like", "like")
    post = mapping(like, "post", "like.post")
    liker = _user(mapping(like, "user", "like.user"), "id", "like.user")
    post_id = string_id(post, "id", "like.post.id")
    post_number = post.get("post_number")
    return hook.build(
        CommunityEventType.REACTION_ADDED,
        object_key=f"{post_id}:{liker.platform_user_id}",
        actor=liker,
        # The like itself carries no time, only the liked post's.
        occurred_at=None,
        channel_id=_optional_id(post.get("category_id")),
        thread_id=string_id(post, "topic_id", "like.post.topic_id"),
        parent_id=str(post_number) if post_number else None,
        object_actor=_user(post, "user_id", "like.post"),
        content=Content(url=hook.url(post.get("post_url"))),
        attributes={**_post_attributes(post), "reaction": "like"},
    )


_HANDLERS: dict[str, Callable[[_Hook], Normalized]] = {
    "post_created": _post(CommunityEventType.MESSAGE_CREATED),
    "post_edited": _post(CommunityEventType.MESSAGE_EDITED),
    "post_destroyed": _post(CommunityEventType.MESSAGE_DELETED),
    "topic_created": _topic_created,
    "user_created": _user_created,
    "post_liked": _post_liked,
    "like": _post_liked,
}


def _user(obj: Mapping[str, Any], key: str, path: str) -> Actor:
    """A Discourse account: a user's `id`, or a post's author `user_id`, with username and name.

    Negative ids are system users (system, discobot).
    """
    user_id = obj.get(key)
    return Actor(
        platform_user_id=string_id(obj, key, f"{path}.{key}"),
        username=obj.get("username") or None,
        display_name=obj.get("name") or None,
        is_bot=is_int(user_id) and user_id < 0,
    )


def _post_attributes(post: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "post_id": post.get("id"),
        "message_id": post.get("id"),
        "post_number": post.get("post_number"),
        "topic_id": post.get("topic_id"),
    }


def _post_content(post: Mapping[str, Any], hook: _Hook) -> Content:
    raw = post.get("raw") if isinstance(post.get("raw"), str) else None
    cooked = _Cooked.parse(post.get("cooked"))
    text = raw if raw else cooked.text
    links = cooked.links if cooked.links else bare_links(raw or "")
    return Content(text=clip(text), url=hook.url(post.get("post_url")), links=unique(links))


def _mentions(post: Mapping[str, Any]) -> dict[str, Any]:
    # Discourse names mentioned members by username only; Content.mentions holds user ids.
    usernames = _Cooked.parse(post.get("cooked")).mentions
    return {"mentioned_usernames": usernames} if usernames else {}


class _Cooked(HTMLParser):
    """Text, outgoing links and @mentions of a post's `cooked` HTML."""

    _BREAKS = frozenset({"p", "br", "div", "li", "blockquote", "pre", "tr", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self.links: list[str] = []
        self.mentions: list[str] = []

    @classmethod
    def parse(cls, cooked: Any) -> _Cooked:
        parser = cls()
        if isinstance(cooked, str):
            parser.feed(cooked)
            parser.close()
        return parser

    @property
    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._parts).splitlines())
        return "\n".join(line for line in lines if line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self._parts.append("\n")
        if tag != "a":
            return
        attributes = dict(attrs)
        href = attributes.get("href") or ""
        classes = (attributes.get("class") or "").split()
        if "mention" in classes and href.startswith("/u/"):
            self.mentions.append(href.removeprefix("/u/").strip("/"))
        elif href.startswith(("https://", "http://")) and not {"hashtag", "hashtag-cooked"} & set(
            classes
        ):
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        self._parts.append(data)


def _optional_id(value: Any) -> str | None:
    return str(value) if is_int(value) or isinstance(value, str) else None
