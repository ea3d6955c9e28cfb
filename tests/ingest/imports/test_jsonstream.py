"""The streaming reader sees what json.load sees, however the file is cut into chunks."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from services.ingest.domain.imports import jsonstream
from services.ingest.domain.imports.jsonstream import iter_object
from tests.ingest.imports.conftest import SAMPLES

DOCUMENTS = [
    {"name": "x", "id": 1234567890123, "messages": [1, 22.5, "three", {"a": [True, None]}]},
    {"messages": [], "after": -17, "e": [1e-7, 2.5e10, -0.0]},
    {"id": 9, "messages": [{"text": 'caf\u00e9 \u2028 \ud83d\ude00 \\"quoted\\"'}], "n": 100000},
    {},
]


def read(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in iter_object(io.StringIO(text), stream_key="messages"):
        found[key] = list(value) if key == "messages" else value
    return found


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_chunk_size_reads_the_same_values(
    document: dict[str, Any], chunk: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(jsonstream, "_CHUNK", chunk)

    for text in (json.dumps(document, indent=1), json.dumps(document, separators=(",", ":"))):
        assert read(text) == json.loads(text)


def test_the_sample_export_reads_like_json_load(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(jsonstream, "_CHUNK", 5)
    text = (SAMPLES / "telegram_result.json").read_text(encoding="utf-8")

    assert read(text) == json.loads(text)


def test_the_array_is_streamed_one_element_at_a_time():
    elements = next(
        value
        for key, value in iter_object(io.StringIO('{"messages": [1, 2, 3]}'), stream_key="messages")
    )

    assert not isinstance(elements, list)
    assert next(elements) == 1


def test_unread_elements_are_skipped_before_the_next_member():
    members = iter_object(io.StringIO('{"messages": [1, 2, 3], "tail": 4}'), stream_key="messages")

    key, elements = next(members)
    assert (key, next(elements)) == ("messages", 1)
    assert next(members) == ("tail", 4)


@pytest.mark.parametrize(
    "text", ["[1, 2]", '{"messages": [1, 2', '{"messages": [1 2]}', '{"a": tru}', ""]
)
def test_broken_json_is_a_value_error(text: str):
    with pytest.raises(ValueError, match="JSON"):
        read(text)
