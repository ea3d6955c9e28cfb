"""CloudEvents binary mode: what goes out as headers comes back as the same event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform
from shared.events.envelope import Envelope, EnvelopeError, header_map


def community_event(**overrides: object) -> CommunityEvent:
    fields: dict[str, object] = {
        "type": CommunityEventType.MESSAGE_CREATED,
        "occurred_at": datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        "tenant_id": "acme",
        "community_id": "c1",
        "platform": Platform.SLACK,
        "workspace_id": "T1",
        "channel_id": "C1",
        "source_event_id": "Ev1",
        "dedup_key": "slack:T1:Ev1",
        "actor": Actor(platform_user_id="U1", username="ann"),
        "content": Content(text="hello", mentions=["U2"]),
    }
    fields.update(overrides)
    return CommunityEvent.model_validate(fields)


def test_binary_mode_puts_attributes_in_ce_headers_and_payload_in_body() -> None:
    event = community_event()
    key, value, headers = event.to_envelope().to_kafka()
    found = header_map(headers)
    assert found["ce_specversion"] == "1.0"
    assert found["ce_id"] == event.event_id
    assert found["ce_type"] == "community.message.created"
    assert found["ce_source"] == "/hearth/ingest/slack"
    assert found["ce_tenantid"] == "acme"
    assert found["content-type"] == "application/json"
    assert key == b"c1:slack:U1"
    assert json.loads(value)["content"]["text"] == "hello"


def test_partition_key_prefers_the_hearth_member() -> None:
    event = community_event(actor=Actor(platform_user_id="U1", member_id="M1"))
    assert event.partition_key == "c1:M1"


def test_round_trip_restores_the_canonical_event() -> None:
    event = community_event()
    envelope = Envelope.from_kafka(*event.to_envelope().to_kafka())
    assert CommunityEvent.model_validate(envelope.data) == event


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"{}", [], "missing ce_specversion"),
        (
            b"not json",
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")],
            "not JSON",
        ),
        (
            b"[1]",
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")],
            "JSON object",
        ),
        (
            b"{}",
            [("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_type", b"t"), ("ce_source", b"/s")],
            "specversion",
        ),
    ],
)
def test_records_that_are_not_cloudevents_are_rejected_with_a_reason(
    value: bytes, headers: list, reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_kafka(None, value, headers)


def test_canonical_event_rejects_unknown_types_and_missing_actor() -> None:
    with pytest.raises(ValueError, match="type"):
        community_event(type="community.message.exploded")
    with pytest.raises(ValueError, match="actor"):
        community_event(actor=None)
