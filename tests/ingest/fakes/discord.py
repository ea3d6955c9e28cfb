"""Discord's REST API v10 under /api/v10: 204 or a JSON object; errors {"code", "message"}.

Shapes from discord.com/developers/docs: a rate limit is HTTP 429 with {"message": "You
are being rate limited.", "retry_after": seconds (float), "global": false} and a
Retry-After header; other errors carry a JSON error code (10008 Unknown Message, 10026
Unknown Ban, 50013 Missing Permissions, 50035 Invalid Form Body).
"""

from __future__ import annotations

import math
from typing import Any

from tests.ingest.fakes.server import Call, FakePlatform, Reply

ERRORS = {
    400: (50035, "Invalid Form Body"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (10008, "Unknown Message"),
}


class DiscordFake(FakePlatform):
    api_path = "/api/v10"

    def succeed(self, call: Call) -> Reply:
        if call.method == "POST":
            body: Any = call.json
            message = {
                "id": "1200000000000000001",
                "channel_id": call.path.split("/")[4],
                "content": body["content"],
                "type": 19,
            }
            return Reply(200, message)
        if call.method == "PATCH":
            return Reply(200, {"user": {"id": call.path.rsplit("/", 1)[-1]}, **call.json})
        return Reply(204)

    def failure(
        self, status: int, *, retry_after: float = 0.2, code: int | None = None, message: str = ""
    ) -> Reply:
        if status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
            }
            headers = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "user"}
            return Reply(429, body, headers)
        known_code, known_message = ERRORS.get(status, (0, f"{status}: Internal Server Error"))
        return Reply(
            status,
            {"code": known_code if code is None else code, "message": message or known_message},
        )
