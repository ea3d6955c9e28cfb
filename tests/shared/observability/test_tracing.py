import pytest

from shared.observability.tracing import (
    TraceContext,
    child_traceparent,
    new_traceparent,
    parse_traceparent,
    trace_id_of,
)

SPEC_EXAMPLE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_parse_reads_the_spec_example() -> None:
    assert parse_traceparent(SPEC_EXAMPLE) == TraceContext(
        trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331", flags=1
    )


def test_new_traceparent_is_valid_and_sampled() -> None:
    context = parse_traceparent(new_traceparent())

    assert context is not None
    assert context.sampled
    assert new_traceparent() != new_traceparent()


def test_child_keeps_trace_id_and_flags_but_gets_a_new_span() -> None:
    child = parse_traceparent(child_traceparent(SPEC_EXAMPLE))

    assert child is not None
    assert child.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert child.span_id != "b7ad6b7169203331"
    assert child.sampled


def test_child_of_unsampled_parent_stays_unsampled() -> None:
    child = parse_traceparent(child_traceparent(SPEC_EXAMPLE[:-2] + "00"))

    assert child is not None and not child.sampled


@pytest.mark.parametrize("parent", [None, "", "garbage"])
def test_child_of_missing_or_invalid_parent_starts_a_new_trace(parent: str | None) -> None:
    assert parse_traceparent(child_traceparent(parent)) is not None


@pytest.mark.parametrize(
    "value",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # forbidden version
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # v00 has 4 fields
        "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",  # short trace id
    ],
)
def test_invalid_values_are_rejected(value: str) -> None:
    assert parse_traceparent(value) is None
    assert trace_id_of(value) is None


def test_later_versions_may_append_fields() -> None:
    value = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes-next"

    assert trace_id_of(value) == "0af7651916cd43dd8448eb211c80319c"
