"""The Discourse REST API as a forum answers it: JSON, `Api-Key` / `Api-Username` headers.

Shapes from docs.discourse.org: success is 200 with a JSON object ({"success": "OK"} for
admin actions); a refusal is 4xx with {"errors": ["…"], "error_type": "…"}; a rate limit
is 429 with Retry-After (seconds) and {"extras": {"wait_seconds": n}}; a bad key is 403
with error_type invalid_access. The fake keeps users, posts, groups and suspensions.
"""

from __future__ import annotations

import re
from typing import Any

from tests.ingest.fakes.server import Call, FakePlatform, Reply

_POST = re.compile(r"/posts/(\d+)\.json")
_ADMIN_USER = re.compile(r"/admin/users/(\d+)(?:/(\w+))?\.json")
_GROUP_MEMBERS = re.compile(r"/groups/(\d+)/members\.json")


class DiscourseFake(FakePlatform):
    """Records calls; `usernames` maps user ids, `posts` the post ids that exist,
    `groups` each group's member usernames, `suspended` / `silenced` user ids to until."""

    api_key = "discourse-SECRET-api-key-0123456789abcdef"

    def __init__(self) -> None:
        super().__init__()
        self.usernames: dict[int, str] = {}
        self.posts: set[int] = set()
        self.hidden: dict[int, int] = {}
        self.messages: list[dict[str, Any]] = []
        self.groups: dict[int, list[str]] = {}
        self.suspended: dict[int, str] = {}
        self.silenced: dict[int, str | None] = {}

    def reset(self) -> None:
        super().reset()
        for kept in (self.usernames, self.hidden, self.groups, self.suspended, self.silenced):
            kept.clear()
        self.posts.clear()
        self.messages.clear()

    def succeed(self, call: Call) -> Reply:
        if call.headers.get("api-key") != self.api_key or not call.headers.get("api-username"):
            return self.failure(403, error_type="invalid_access")
        method, path, body = call.method, call.path, call.json or {}
        if post := _POST.fullmatch(path):
            if method == "DELETE" and int(post.group(1)) in self.posts:
                self.posts.discard(int(post.group(1)))
                return Reply(200, {})
            return self.failure(404)
        if path == "/post_actions.json" and method == "POST":
            if body.get("id") not in self.posts:
                return self.failure(404)
            self.hidden[body["id"]] = body["post_action_type_id"]
            return Reply(200, {"id": body["id"], "hidden": bool(body.get("take_action"))})
        if path == "/posts.json" and method == "POST":
            self.messages.append(body)
            return Reply(200, {"id": 901, "topic_id": 77, "post_number": 1})
        if user := _ADMIN_USER.fullmatch(path):
            return self._admin_user(method, int(user.group(1)), user.group(2), body)
        if group := _GROUP_MEMBERS.fullmatch(path):
            return self._group(method, int(group.group(1)), str(body.get("usernames", "")))
        return self.failure(404)

    def _admin_user(self, method: str, user: int, verb: str | None, body: dict) -> Reply:
        if user not in self.usernames:
            return self.failure(404)
        if verb is None and method == "GET":
            return Reply(200, {"id": user, "username": self.usernames[user], "admin": False})
        if method != "PUT":
            return self.failure(404)
        if verb == "suspend":
            self.suspended[user] = body["suspend_until"]
        elif verb == "unsuspend":
            self.suspended.pop(user, None)
        elif verb == "silence":
            self.silenced[user] = body.get("silenced_till")
        elif verb == "unsilence":
            self.silenced.pop(user, None)
        else:
            return self.failure(404)
        return Reply(200, {"success": "OK"})

    def _group(self, method: str, group: int, usernames: str) -> Reply:
        if group not in self.groups:
            return self.failure(404)
        members = self.groups[group]
        names = [name for name in usernames.split(",") if name]
        if method == "PUT":
            if any(name in members for name in names):
                return self.failure(422, errors=[f"{names[0]} is already a member of this group"])
            members.extend(names)
            return Reply(200, {"success": "OK", "usernames": names})
        if method == "DELETE":
            self.groups[group] = [m for m in members if m not in names]
            return Reply(200, {"success": "OK", "usernames": names})
        return self.failure(404)

    def failure(
        self,
        status: int,
        *,
        retry_after: int = 1,
        errors: list[str] | None = None,
        error_type: str = "",
    ) -> Reply:
        if status == 429:
            body = {
                "errors": ["You've performed this action too many times. Please wait."],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": retry_after, "time_left": f"{retry_after} seconds"},
            }
            return Reply(429, body, {"Retry-After": str(retry_after)})
        if status >= 500:
            return Reply(status, "<html><body>Oops</body></html>", content_type="text/html")
        kinds = {403: "invalid_access", 404: "not_found", 422: "invalid_parameters"}
        default = {
            403: "You are not permitted to view the requested resource.",
            404: "The requested URL or resource could not be found.",
        }
        body = {
            "errors": errors or [default.get(status, "Invalid request")],
            "error_type": error_type or kinds.get(status, "invalid_parameters"),
        }
        return Reply(status, body)
