"""GitHub's REST API as githubkit reads it: 204, or JSON; errors {"message", ...}.

Shapes from docs.github.com/rest: a primary rate limit is 403 (or 429) with
x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch seconds); a secondary one carries
retry-after (seconds). Comments name their thread by URL (issue_url, pull_request_url)
and carry a node_id.
POST /graphql answers GraphQL as GitHub does: 200 with {"data": …}, and {"errors":
[{"type", "path", "message"}]} beside a null field when the mutation is refused.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.ingest.fakes.server import Call, FakePlatform, Reply

_DOCS = "https://docs.github.com/rest"
MESSAGES = {
    400: "Problems parsing JSON",
    401: "Bad credentials",
    403: "Must have admin rights to Repository.",
    404: "Not Found",
    422: "Validation Failed",
}
_COMMENT = re.compile(r"/repos/([^/]+)/([^/]+)/(issues|pulls)/comments/(\d+)")
_THREAD_COMMENTS = re.compile(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments")
_USER = re.compile(r"/user/(\d+)")


class GitHubFake(FakePlatform):
    """Records calls; `threads` maps a comment id to its issue/PR number, `logins` ids;
    `minimized` holds each minimized node id's classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[int, int] = {}
        self.logins: dict[int, str] = {}
        self.minimized: dict[str, str] = {}

    def reset(self) -> None:
        super().reset()
        self.threads.clear()
        self.logins.clear()
        self.minimized.clear()

    @staticmethod
    def node_id(kind: str, comment_id: int) -> str:
        """The node id the fake gives an issue ("issues") or review ("pulls") comment."""
        return f"{'IC' if kind == 'issues' else 'PRRC'}_kwDO{comment_id}"

    def succeed(self, call: Call) -> Reply:
        if call.method == "POST" and call.path == "/graphql":
            return self._graphql(call)
        if call.method == "GET":
            return self._get(call)
        if call.method == "POST" and (thread := _THREAD_COMMENTS.fullmatch(call.path)):
            owner, repo, number = thread.groups()
            body = {
                "id": 777,
                "node_id": "IC_kwDO",
                "url": f"{self.url}/repos/{owner}/{repo}/issues/comments/777",
                "html_url": f"https://github.com/{owner}/{repo}/issues/{number}#issuecomment-777",
                "issue_url": f"{self.url}/repos/{owner}/{repo}/issues/{number}",
                "body": call.json["body"],
            }
            return Reply(201, body)
        if call.method == "PUT" and "/memberships/" in call.path:
            return Reply(
                200, {"url": f"{self.url}{call.path}", "role": "member", "state": "active"}
            )
        return Reply(204)

    def _get(self, call: Call) -> Reply:
        if user := _USER.fullmatch(call.path):
            account_id = int(user.group(1))
            if account_id not in self.logins:
                return self.failure(404)
            return Reply(200, {"login": self.logins[account_id], "id": account_id, "type": "User"})
        if comment := _COMMENT.fullmatch(call.path):
            owner, repo, kind, comment_id = comment.groups()
            number = self.threads.get(int(comment_id))
            if number is None:
                return self.failure(404)
            thread, page = ("issues", "issues") if kind == "issues" else ("pulls", "pull")
            parent = "issue_url" if kind == "issues" else "pull_request_url"
            body: dict[str, Any] = {
                "id": int(comment_id),
                "node_id": self.node_id(kind, int(comment_id)),
                parent: f"{self.url}/repos/{owner}/{repo}/{thread}/{number}",
                "html_url": f"https://github.com/{owner}/{repo}/{page}/{number}#c{comment_id}",
            }
            return Reply(200, body)
        return self.failure(404)

    def _graphql(self, call: Call) -> Reply:
        request = call.json
        if "minimizeComment" not in request["query"]:
            return Reply(200, {"errors": [{"message": "unexpected query in the fake"}]})
        subject = request["variables"]["subject"]
        known = {
            self.node_id(kind, comment) for comment in self.threads for kind in ("issues", "pulls")
        }
        if subject not in known:
            error = {
                "type": "NOT_FOUND",
                "path": ["minimizeComment"],
                "locations": [{"line": 3, "column": 3}],
                "message": f"Could not resolve to a node with the global id of '{subject}'",
            }
            return Reply(200, {"data": {"minimizeComment": None}, "errors": [error]})
        classifier = request["variables"]["classifier"]
        self.minimized[subject] = classifier
        minimized = {"isMinimized": True, "minimizedReason": classifier.lower()}
        return Reply(200, {"data": {"minimizeComment": {"minimizedComment": minimized}}})

    def failure(
        self, status: int, *, retry_after: int | None = None, reset_in: int | None = None
    ) -> Reply:
        headers: dict[str, str] = {}
        message = MESSAGES.get(status, "Server Error")
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
            message = "You have exceeded a secondary rate limit."
        if reset_in is not None:
            headers |= {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
            }
            message = "API rate limit exceeded for user ID 1."
        return Reply(status, {"message": message, "documentation_url": _DOCS}, headers)
