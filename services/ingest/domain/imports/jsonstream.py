"""Read a large JSON object member by member, streaming one of its arrays.

Chat exports put a small header (chat, guild, channel) before one huge `messages`
array. Loading such a file whole takes several times its size in memory, so the
array's elements are decoded one at a time with the standard library's decoder,
from a buffer refilled in chunks; every other member is decoded whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

_CHUNK = 1 << 20
_MAX_VALUE = 256 << 20  # one element bigger than this is a broken file, not a message
_WHITESPACE = " \t\r\n"
_AFTER_VALUE = frozenset(_WHITESPACE + ",:]}")
_DECODER = json.JSONDecoder()


class _Reader:
    """A cursor over JSON text that reads more from the file only when it must."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        if self._eof:
            return False
        chunk = self._text.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace, or "" at the end of the file."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def take(self, expected: str) -> None:
        found = self.peek()
        if found != expected:
            raise ValueError(f"not valid JSON: expected {expected!r}, found {found or 'the end'!r}")
        self._pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos > _MAX_VALUE or not self._more():
                    raise ValueError(f"not valid JSON: {exc.msg}") from None
                continue
            # A number cut by the chunk ("22" of "22.5") decodes too: a value counts
            # only once what follows it is a delimiter, or the file has ended.
            complete = end < len(self._buf) and self._buf[end] in _AFTER_VALUE
            if not complete and len(self._buf) - self._pos <= _MAX_VALUE and self._more():
                continue
            self._pos = end
            return value


def iter_object(text: IO[str], *, stream_key: str) -> Iterator[tuple[str, Any]]:
    """Yield (key, value) for each member of the top-level object, in file order.

    When the member `stream_key` holds an array, its value is an iterator over the
    elements instead of a list; whatever the caller leaves unread of it is skipped
    before the next member is read.
    """
    reader = _Reader(text)
    if reader.peek() != "{":
        raise ValueError("not a JSON object")
    reader.take("{")
    if reader.peek() == "}":
        return
    while True:
        key = reader.value()
        if not isinstance(key, str):
            raise ValueError("not valid JSON: an object key is not a string")
        reader.take(":")
        if key == stream_key and reader.peek() == "[":
            elements = _iter_array(reader)
            yield key, elements
            for _ in elements:
                pass
        else:
            yield key, reader.value()
        if reader.peek() == "}":
            return
        reader.take(",")


def _iter_array(reader: _Reader) -> Iterator[Any]:
    reader.take("[")
    if reader.peek() == "]":
        reader.take("]")
        return
    while True:
        yield reader.value()
        if reader.peek() == "]":
            reader.take("]")
            return
        reader.take(",")


class NoMessages(ValueError):
    """The document has no `messages` array; `header` holds the members it does have."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        super().__init__("no 'messages' list")
        self.header = header


def stream_messages(
    text: IO[str],
    *,
    label: str,
    ready: Callable[[Mapping[str, Any]], bool],
    emit: Callable[[Mapping[str, Any], Iterable[Any]], Iterator[Any]],
) -> Iterator[Any]:
    """What `emit(header, messages)` yields for an export's `messages` array, streamed.

    Exporters write the header (chat, guild, channel) before the messages, so they are
    streamed as soon as `ready(header)`; a file rewritten with the header after them has
    its messages held in memory until the header is complete.
    """
    header: dict[str, Any] = {}
    held: list[Any] | None = None
    for key, value in iter_object(text, stream_key="messages"):
        if key != "messages":
            header[key] = value
        elif not isinstance(value, Iterator | list):
            raise ValueError(f"{label}: 'messages' is not a list")
        elif ready(header):
            yield from emit(header, value)
            held = []
        else:
            held = list(value)
    if held is None:
        raise NoMessages(header)
    if held:
        yield from emit(header, held)
