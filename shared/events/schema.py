"""JSON Schema for every payload and the AsyncAPI 3 document, written by `hearth schema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events.topics import TOPICS, Topic

ASYNCAPI_VERSION = "3.0.0"
_CE_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in the Kafka binary content mode.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "event id (ULID); consumers dedupe on it"},
        "ce_source": {"type": "string", "description": "producer, e.g. /hearth/ingest/slack"},
        "ce_type": {"type": "string", "description": "event type, e.g. community.message.created"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string"},
        "ce_tenantid": {"type": "string"},
        "ce_communityid": {"type": "string"},
        "ce_partitionkey": {"type": "string"},
        "ce_traceparent": {"type": "string", "description": "W3C trace context"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def payload_schema(topic: Topic) -> dict[str, Any]:
    """Standalone JSON Schema (draft 2020-12) of one topic's payload."""
    schema = topic.payload.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:hearth:schema:{topic.name}",
        **schema,
    }


def _channel_id(topic: Topic) -> str:
    head, *rest = topic.name.replace("_", ".").split(".")
    return head + "".join(part.capitalize() for part in rest)


def asyncapi_document(version: str) -> dict[str, Any]:
    """AsyncAPI 3 description of every topic, for teams that subscribe."""
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (topic.payload, "validation") for topic in TOPICS.values()
    ]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS.values():
        channel = _channel_id(topic)
        message = topic.payload.__name__
        messages[message] = {
            "name": message,
            "title": topic.payload.__doc__,
            "contentType": "application/json",
            "headers": _CE_HEADERS,
            "payload": {"$ref": f"#/components/schemas/{message}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": topic.key}}},
            "x-event-types": [event_type.value for event_type in topic.event_types],
        }
        channels[channel] = {
            "address": topic.name,
            "description": f"{topic.description} Produced by {topic.producer}. "
            f"Dead letters of a consumer group go to `{topic.name}.<group>.dlq`.",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        operations[f"receive{channel[0].upper()}{channel[1:]}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"Subscribe to {topic.name}.",
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Hearth event topics",
            "version": version,
            "description": "Versioned topics other services subscribe to. Envelope: "
            "CloudEvents 1.0, Kafka binary mode (ce_* headers, JSON body).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "the broker deploy/local starts",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs["$defs"]},
    }


def render_docs(version: str) -> dict[str, str]:
    """Map of relative path → file text for every generated contract document."""
    files = {
        f"schemas/{topic.name}.json": _dump(payload_schema(topic)) for topic in TOPICS.values()
    }
    files["asyncapi.json"] = _dump(asyncapi_document(version))
    return files


def write_docs(docs_dir: Path, version: str) -> list[Path]:
    """Write the generated documents under `docs_dir`; return the paths written."""
    written = []
    for relative, text in render_docs(version).items():
        path = docs_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
