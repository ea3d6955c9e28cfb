import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from shared.observability.logging import REDACTED, bind_event, bind_service, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging("DEBUG", service="ingest", stream=out)
    yield out
    root.handlers[:], root.level = saved[0], saved[1]


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_line(stream: io.StringIO) -> None:
    logging.getLogger("hearth.test").info("hello %s", "world", extra={"community_id": "c-1"})

    [line] = lines(stream)
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "hearth.test"
    assert line["service"] == "ingest"
    assert line["community_id"] == "c-1"
    assert line["timestamp"].endswith("+00:00")
    assert "event_id" not in line and "trace_id" not in line


def test_bound_event_and_trace_ids_appear_only_inside_the_block(stream: io.StringIO) -> None:
    log = logging.getLogger("hearth.test")
    with bind_event("01HXEVENT", trace_id="0af7651916cd43dd8448eb211c80319c"):
        log.info("handling")
    log.info("after")

    inside, after = lines(stream)
    assert inside["event_id"] == "01HXEVENT"
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "event_id" not in after and "trace_id" not in after


def test_bound_service_overrides_the_default(stream: io.StringIO) -> None:
    with bind_service("moderation"):
        logging.getLogger("hearth.test").info("x")

    assert lines(stream)[0]["service"] == "moderation"


def test_secrets_in_extra_fields_are_redacted(stream: io.StringIO) -> None:
    logging.getLogger("hearth.test").warning(
        "connecting",
        extra={
            "bot_token": "123:ABC",
            "platform": "telegram",
            "request": {"headers": {"Authorization": "Bearer hth_x"}, "password": "p", "ok": 1},
            "items": [{"client_secret": "s"}],
            "api_key": "hth_abc",
        },
    )

    [line] = lines(stream)
    assert line["bot_token"] == REDACTED
    assert line["api_key"] == REDACTED
    assert line["platform"] == "telegram"
    assert line["request"] == {
        "headers": {"Authorization": REDACTED},
        "password": REDACTED,
        "ok": 1,
    }
    assert line["items"] == [{"client_secret": REDACTED}]
    assert "123:ABC" not in stream.getvalue() and "hth_" not in stream.getvalue()


def test_exceptions_are_logged_with_traceback(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad payload")
    except ValueError:
        logging.getLogger("hearth.test").exception("failed")

    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert "ValueError: bad payload" in line["exc_info"]


def test_configuring_twice_does_not_duplicate_lines(stream: io.StringIO) -> None:
    configure_logging("INFO", stream=stream)
    logging.getLogger("hearth.test").info("once")

    assert len(lines(stream)) == 1


def test_level_filters_lower_records(stream: io.StringIO) -> None:
    configure_logging("WARNING", stream=stream)
    logging.getLogger("hearth.test").info("dropped")

    assert lines(stream) == []


def test_a_storm_of_aiokafka_lines_is_cut_to_a_few_with_a_count_of_the_rest(
    stream: io.StringIO,
) -> None:
    kafka = logging.getLogger("aiokafka")
    for _ in range(10_000):
        kafka.error("Unable connect to node with id %s: %s", 1, "refused")
    logging.getLogger("hearth.test").error("our own line")

    written = lines(stream)
    assert len([line for line in written if line["logger"] == "aiokafka"]) <= 5
    assert written[-1]["message"] == "our own line", "other loggers are never limited"
