"""The Slack Web API as slack_sdk reads it: POST /api/{method}, {"ok": true | false, ...}.

Shapes from docs.slack.dev: a refusal is HTTP 200 with {"ok": false, "error": "code"}; a
rate limit is HTTP 429 with a Retry-After header (seconds) and {"ok": false, "error":
"ratelimited"}; a server error is a 5xx with an HTML page.
"""

from __future__ import annotations

from typing import Any

from tests.ingest.fakes.server import Call, FakePlatform, Reply


class SlackFake(FakePlatform):
    """Records calls; `usergroups` holds each user group's members."""

    api_path = "/api/"

    def __init__(self) -> None:
        super().__init__()
        self.usergroups: dict[str, list[str]] = {}

    def reset(self) -> None:
        super().reset()
        self.usergroups.clear()

    @staticmethod
    def method(call: Call) -> str:
        return call.path.rsplit("/", 1)[-1]

    def refuse_next(self, error: str, n: int = 1) -> None:
        """Answer like Slack refuses a call: 200 with ok=false."""
        self.reply_next(Reply(200, {"ok": False, "error": error}), n)

    def succeed(self, call: Call) -> Reply:
        method, params = self.method(call), call.params
        body: dict[str, Any] = {"ok": True}
        if method == "chat.delete":
            body |= {"channel": params["channel"], "ts": params["ts"]}
        elif method == "chat.postEphemeral":
            body["message_ts"] = "1700000001.000200"
        elif method == "usergroups.users.list":
            body["users"] = self.usergroups.get(params["usergroup"], [])
        elif method == "usergroups.users.update":
            users = [u for u in str(params["users"]).split(",") if u]
            self.usergroups[params["usergroup"]] = users
            body["usergroup"] = {"id": params["usergroup"], "users": users}
        return Reply(200, body)

    def failure(self, status: int, *, retry_after: int = 1, error: str = "") -> Reply:
        if status == 429:
            return Reply(
                429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
            )
        if status >= 500:
            return Reply(status, "<html><body>Server error</body></html>", content_type="text/html")
        return Reply(status, {"ok": False, "error": error or "invalid_arguments"})
