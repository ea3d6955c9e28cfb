"""CloudEvents 1.0 envelope and its Kafka protocol binding (binary content mode).

In binary mode the event attributes travel as `ce_*` headers and the body is the
JSON payload alone, so consumers that do not know CloudEvents still read plain JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from ulid import ULID

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
CE_PREFIX = "ce_"

# Attributes written as headers besides `data`; extensions are lower-case alnum by spec.
_CORE = ("specversion", "id", "source", "type", "subject", "time", "dataschema")
_EXTENSIONS = ("tenantid", "partitionkey", "traceparent", "communityid")

Headers = Sequence[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid CloudEvent in binary mode."""


def new_event_id() -> str:
    """Return a new ULID string: unique and sortable by creation time."""
    return str(ULID())


def derived_event_id(seed: str, at: datetime) -> str:
    """A ULID fixed by `seed`: a platform event delivered twice gets the same event id.

    The time part is `at` (so ids still sort by when things happened) and the random
    part comes from a hash of the seed, so consumers deduplicating on the CloudEvent id
    also absorb a redelivery that was published twice.
    """
    millis = int(at.timestamp() * 1000)
    digest = hashlib.sha256(seed.encode()).digest()
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest[:10]))


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A CloudEvents 1.0 event with Hearth's extension attributes."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_event_id, min_length=1)
    source: str = Field(
        min_length=1, description="URI-reference of the producer, e.g. /hearth/ingest"
    )
    type: str = Field(
        min_length=1, description="Reverse-DNS event type, e.g. community.message.created"
    )
    specversion: str = SPEC_VERSION
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: str = JSON_CONTENT_TYPE
    dataschema: str | None = None
    tenantid: str | None = None
    communityid: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("specversion")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value != SPEC_VERSION:
            raise ValueError(f"unsupported CloudEvents specversion {value!r}")
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def to_kafka(self) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        """Encode as (key, value, headers) in the CloudEvents Kafka binary mode."""
        attributes = self.model_dump(mode="json", exclude={"data", "datacontenttype"})
        headers = [
            (CE_PREFIX + name, str(attributes[name]).encode())
            for name in (*_CORE, *_EXTENSIONS)
            if attributes.get(name) is not None
        ]
        headers.append(("content-type", self.datacontenttype.encode()))
        key = self.partitionkey.encode() if self.partitionkey else None
        body = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()
        return key, body, headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes, headers: Headers) -> Envelope:
        """Decode a binary-mode record; raise EnvelopeError when it is not a CloudEvent."""
        found: dict[str, object] = {}
        for name, raw in headers:
            attribute = _ATTRIBUTE_OF_HEADER.get(name.lower())
            if attribute is not None:
                found[attribute] = raw.decode(errors="replace")
        if "specversion" not in found or "id" not in found or "type" not in found:
            raise EnvelopeError("missing ce_specversion, ce_id or ce_type header")
        try:
            data = json.loads(value) if value else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("body must be a JSON object")
        if key is not None and "partitionkey" not in found:
            found["partitionkey"] = key.decode(errors="replace")
        found["data"] = data
        try:
            return cls.model_validate(found)
        except ValueError as exc:
            raise EnvelopeError(str(exc)) from exc


# Header name → attribute, built once: decoding runs for every record consumed.
_ATTRIBUTE_OF_HEADER = {CE_PREFIX + name: name for name in (*_CORE, *_EXTENSIONS)}
_ATTRIBUTE_OF_HEADER["content-type"] = "datacontenttype"


def header_map(headers: Headers) -> Mapping[str, str]:
    """Return the headers as a str→str mapping (last value wins)."""
    return {name: raw.decode(errors="replace") for name, raw in headers}
