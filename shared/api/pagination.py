"""Cursor pagination: opaque cursors, the Page envelope and the limit/cursor query params."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from shared.api.problems import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Cursors carry a few sort keys; anything longer is not one of ours.
MAX_CURSOR_LENGTH = 1024

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results and the cursor for the next, None on the last page."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` to get the next page; null on the last page"
    )


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a position (e.g. the last row's sort keys) as an opaque URL-safe cursor."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Cursors are not signed: repositories must treat decoded values as untrusted input.
def decode_cursor(cursor: str) -> dict[str, Any]:
    """Decode a cursor made by encode_cursor; raise BadRequest for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("Invalid pagination cursor.") from None
    if not isinstance(position, dict):
        raise BadRequest("Invalid pagination cursor.")
    return position


def cursor_int(position: dict[str, Any] | None, key: str) -> int | None:
    """An integer sort key of a decoded cursor (None without a cursor); BadRequest when a
    tampered cursor holds anything else, so it is a 400, never a 500."""
    if position is None or key not in position:
        return None
    value = position[key]
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63 - 1:
        raise BadRequest("Invalid pagination cursor.")
    return value


def cursor_str(position: dict[str, Any] | None, key: str, *, max_length: int = 255) -> str | None:
    """A string sort key of a decoded cursor (None without a cursor); BadRequest otherwise."""
    if position is None or key not in position:
        return None
    value = position[key]
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise BadRequest("Invalid pagination cursor.")
    return value


def limit_param(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
) -> int:
    """Read the `limit` query parameter."""
    return limit


def cursor_param(
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page"),
    ] = None,
) -> dict[str, Any] | None:
    """Read and decode the `cursor` query parameter; None asks for the first page."""
    return decode_cursor(cursor) if cursor else None


LimitDep = Annotated[int, Depends(limit_param)]
CursorDep = Annotated[dict[str, Any] | None, Depends(cursor_param)]
