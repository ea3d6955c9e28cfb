"""The checked-in contracts in docs/ must match the code; `hearth schema` regenerates them."""

from __future__ import annotations

import json
from pathlib import Path

from services.cli import VERSION
from shared.events.schema import asyncapi_document, render_docs
from shared.events.topics import TOPICS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_checked_in_contracts_match_the_code() -> None:
    stale = [
        relative
        for relative, text in render_docs(VERSION).items()
        if not (DOCS / relative).exists() or (DOCS / relative).read_text(encoding="utf-8") != text
    ]
    assert stale == [], f"run `hearth schema` and commit: {stale}"


def test_asyncapi_lists_every_topic_with_its_payload_schema() -> None:
    document = asyncapi_document(VERSION)
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(TOPICS)
    for message in document["components"]["messages"].values():
        ref = message["payload"]["$ref"].rsplit("/", 1)[-1]
        assert ref in document["components"]["schemas"]
    refs = [v for v in json.dumps(document).split('"') if v.startswith("#/")]
    for ref in refs:
        node = document
        for part in ref[2:].split("/"):
            node = node[part]
