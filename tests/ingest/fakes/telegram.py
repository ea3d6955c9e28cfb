"""The Telegram Bot API as aiogram reads it: POST /bot{token}/{method}, {"ok", "result"}.

Shapes from core.telegram.org/bots/api: every answer is {"ok": true, "result": ...} or
{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": s}},
with the HTTP status equal to error_code.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.ingest.fakes.server import Call, FakePlatform, Reply

_DESCRIPTIONS = {
    400: "Bad Request: message can't be deleted",
    401: "Unauthorized",
    403: "Forbidden: bot is not a member of the supergroup chat",
    404: "Not Found",
}


class TelegramFake(FakePlatform):
    """Records calls; `tags` is each member's tag, as getChatMember reports it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[int, str] = {}

    def reset(self) -> None:
        super().reset()
        self.tags.clear()

    @staticmethod
    def method(call: Call) -> str:
        return call.path.rsplit("/", 1)[-1]

    @staticmethod
    def token(call: Call) -> str:
        return call.path.split("/")[1].removeprefix("bot")

    @staticmethod
    def fields(call: Call) -> dict[str, Any]:
        """The call's form fields, JSON-encoded objects decoded."""
        decoded: dict[str, Any] = {}
        for name, value in call.params.items():
            try:
                decoded[name] = json.loads(value)
            except ValueError:
                decoded[name] = value
        return decoded

    def succeed(self, call: Call) -> Reply:
        method, fields = self.method(call), self.fields(call)
        if method == "sendMessage":
            result: Any = {
                "message_id": 9001,
                "date": int(time.time()),
                "chat": {"id": int(fields["chat_id"]), "type": "supergroup", "title": "Guild"},
                "from": {"id": 42, "is_bot": True, "first_name": "Hearth"},
                "text": fields["text"],
            }
        elif method == "getChatMember":
            user = {"id": int(fields["user_id"]), "is_bot": False, "first_name": "Member"}
            result = {"status": "member", "user": user}
            if tag := self.tags.get(int(fields["user_id"])):
                result["tag"] = tag
        else:
            if method == "setChatMemberTag":
                self.tags[int(fields["user_id"])] = fields.get("tag", "")
            result = True
        return Reply(200, {"ok": True, "result": result})

    def failure(self, status: int, *, retry_after: int = 1, description: str = "") -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": status}
        if status == 429:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        else:
            body["description"] = description or _DESCRIPTIONS.get(status, "Internal Server Error")
        return Reply(status, body)
