"""`hearth import` against a fake ingest endpoint: retries, resumes, and never re-sends."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from services import cli
from services.ingest.importer import (
    OUTSIDE_WINDOW,
    ImportFailed,
    ImportReport,
    parse_bound,
    run_import,
)
from services.ingest.schemas import EventIn
from tests.ingest.imports.conftest import COMMUNITY

API_KEY = "hk_test_s3cr3t-key-never-printed"
API_URL = "http://ingest.test"


class FakeIngest:
    """POST /v1/ingest/events as the real endpoint answers it, with failures on demand."""

    def __init__(self) -> None:
        self.acknowledged: list[str] = []  # Idempotency-Keys processed (first answer)
        self.replayed: list[str] = []
        self.requests: list[httpx.Request] = []
        self.events: list[dict[str, Any]] = []
        self.unavailable_once: set[str] = set()
        self.down_after: int | None = None  # refuse connections once this many were processed
        self.reject_text: str | None = None
        self.problem: tuple[int, dict[str, Any]] | None = None
        self.communities = {COMMUNITY, "community-2"}
        self._answers: dict[str, tuple[bytes, int, dict[str, Any]]] = {}
        self._keys: set[tuple[str, str | None]] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.method == "POST" and request.url.path == "/v1/ingest/events"
        if self.down_after is not None and len(self.acknowledged) >= self.down_after:
            raise httpx.ConnectError("Connection refused", request=request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return problem(401, "Unauthorized", "Invalid API key.")
        if self.problem is not None:
            return problem(self.problem[0], **self.problem[1])
        key = request.headers["Idempotency-Key"]
        if key in self.unavailable_once:
            self.unavailable_once.discard(key)
            return problem(503, "Service Unavailable", "Retry later.", headers={"Retry-After": "7"})
        body = request.read()
        if key in self._answers:
            first_body, status, answer = self._answers[key]
            if first_body != body:
                return problem(422, "Idempotency-Key reused", "Different body.")
            self.replayed.append(key)
            return httpx.Response(status, json=answer)
        items = []
        for index, raw in enumerate(json.loads(body)["events"]):
            event = EventIn.model_validate(raw)
            self.events.append(raw)
            text = event.content.text if event.content else None
            if event.community_id not in self.communities:
                error = {"loc": "community_id", "msg": "unknown community", "type": "not_found"}
                items.append({"index": index, "status": "rejected", "errors": [error]})
            elif self.reject_text and text and self.reject_text in text:
                error = {"loc": "content.text", "msg": "not allowed here", "type": "value_error"}
                items.append({"index": index, "status": "rejected", "errors": [error]})
            elif (event.community_id, event.dedup_key) in self._keys:
                items.append({"index": index, "status": "duplicate", "event_id": "e"})
            else:
                self._keys.add((event.community_id, event.dedup_key))
                items.append({"index": index, "status": "accepted", "event_id": "e"})
        status = 207 if any(i["status"] == "rejected" for i in items) else 200
        self._answers[key] = (body, status, {"items": items})
        self.acknowledged.append(key)
        return httpx.Response(status, json={"items": items})


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    headers = {"Content-Type": "application/problem+json", **(headers or {})}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def telegram_export(tmp_path: Path, count: int = 9) -> Path:
    messages = [
        {
            "id": n,
            "type": "message",
            "date_unixtime": str(1717243200 + n),
            "from": f"Member {n}",
            "from_id": f"user{1000 + n}",
            "text": f"message {n}",
        }
        for n in range(1, count + 1)
    ]
    path = tmp_path / "result.json"
    export = {"name": "Players", "type": "public_supergroup", "id": 42, "messages": messages}
    path.write_text(json.dumps(export), encoding="utf-8")
    return path


class Run:
    """One `hearth import` with its console output and the sleeps it asked for."""

    def __init__(self, tmp_path: Path, fake: FakeIngest) -> None:
        self.state_dir = tmp_path / "state"
        self.fake = fake
        self.output = io.StringIO()
        self.sleeps: list[float] = []

    def __call__(self, path: Path, **options: Any) -> ImportReport:
        options.setdefault("batch_size", 2)
        return run_import(
            path,
            community_id=options.pop("community_id", COMMUNITY),
            api_url=API_URL,
            api_key=options.pop("api_key", API_KEY),
            state_dir=self.state_dir,
            console=Console(file=self.output, width=200, force_terminal=False),
            transport=httpx.MockTransport(self.fake),
            sleep=self.sleeps.append,
            max_attempts=3,
            **options,
        )

    @property
    def printed(self) -> str:
        return self.output.getvalue()


@pytest.fixture
def fake() -> FakeIngest:
    return FakeIngest()


@pytest.fixture
def run(tmp_path: Path, fake: FakeIngest) -> Run:
    return Run(tmp_path, fake)


def keys(path: Path, batches: int, community: str = COMMUNITY) -> list[str]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return [f"import-{digest}-{community}-{number}" for number in range(1, batches + 1)]


def test_every_event_is_sent_backfilled_in_batches_with_their_keys(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)

    report = run(path)

    assert fake.acknowledged == keys(path, 5)  # 9 events, 2 per batch
    assert (report.accepted, report.duplicates, report.rejected) == (9, 0, 0)
    assert (report.batches, report.sent, report.resumed, report.ok) == (5, 5, 0, True)
    assert [e["source_event_id"] for e in fake.events] == [str(n) for n in range(1, 10)]
    assert all(e["backfilled"] is True and e["community_id"] == COMMUNITY for e in fake.events)
    request = fake.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "9 accepted, 0 duplicate, 0 rejected" in run.printed


def test_a_503_with_retry_after_is_waited_out_and_the_batch_retried(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)
    fake.unavailable_once.add(keys(path, 5)[1])

    report = run(path)

    assert run.sleeps == [7.0]
    assert Counter(fake.acknowledged) == Counter(keys(path, 5))
    assert report.accepted == 9
    assert "Batch 2: the ingest API is unavailable (503); retrying in 7 s" in run.printed


def test_an_interrupted_import_resumes_after_the_last_acknowledged_batch(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)
    fake.down_after = 2

    with pytest.raises(ImportFailed, match=r"could not reach .* Batches 1-2 were acknowledged"):
        run(path)
    assert fake.acknowledged == keys(path, 2)
    assert len(run.sleeps) == 2  # three attempts at batch 3, then it gave up

    fake.down_after = None
    first_of_rerun = len(fake.requests)
    report = run(path)

    assert fake.requests[first_of_rerun].headers["Idempotency-Key"] == keys(path, 5)[2]
    assert Counter(fake.acknowledged) == Counter(keys(path, 5))  # each exactly once
    assert fake.replayed == []
    assert (report.sent, report.resumed, report.accepted) == (3, 2, 9)
    assert "batches 1-2 were acknowledged by an earlier run and are skipped" in run.printed


def test_a_rerun_after_completion_sends_nothing(tmp_path: Path, run: Run, fake: FakeIngest):
    path = telegram_export(tmp_path)
    run(path)
    sent = len(fake.requests)

    report = run(path)

    assert len(fake.requests) == sent
    assert (report.complete, report.sent, report.accepted) == (True, 0, 9)
    assert "already imported" in run.printed


def test_a_lost_answer_is_replayed_by_the_same_key_and_body(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)
    run(path)
    (checkpoint,) = run.state_dir.iterdir()
    checkpoint.unlink()

    report = run(path)

    assert fake.replayed == keys(path, 5)  # the server answers again, nothing new stored
    assert report.accepted == 9


def test_a_resumed_import_keeps_the_batch_size_it_started_with(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)
    fake.down_after = 1
    with pytest.raises(ImportFailed):
        run(path)
    fake.down_after = None

    report = run(path, batch_size=4)

    assert report.batch_size == 2
    assert Counter(fake.acknowledged) == Counter(keys(path, 5))
    assert "Resuming with batch size 2" in run.printed


def test_rejected_events_are_counted_and_the_first_ten_listed(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path, count=14)
    fake.reject_text = "message 1"  # 1, 10..14: six rejections

    report = run(path)

    assert (report.accepted, report.rejected, report.ok) == (8, 6, False)
    assert [(r.batch, r.index) for r in report.rejections][:2] == [(1, 0), (5, 1)]
    assert report.rejections[0].dedup_key == "telegram:message:-1000000000042:1"
    assert report.rejections[0].errors == "content.text: not allowed here"
    assert "Rejected events (first 6 of 6):" in run.printed
    assert "batch 1 #0 telegram:message:-1000000000042:1: content.text: not allowed here" in (
        run.printed
    )


def test_only_ten_rejections_are_kept(tmp_path: Path, run: Run, fake: FakeIngest):
    path = telegram_export(tmp_path, count=12)
    fake.reject_text = "message"

    report = run(path)

    assert report.rejected == 12
    assert len(report.rejections) == 10


def test_a_refused_api_key_stops_with_a_clear_message_and_is_never_printed(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)

    with pytest.raises(ImportFailed, match="refused the API key") as failure:
        run(path, api_key="hk_wrong-key-also-secret")

    assert "hk_wrong-key-also-secret" not in str(failure.value)
    assert "hk_wrong-key-also-secret" not in run.printed
    assert failure.value.report.sent == 0


@pytest.mark.parametrize(
    ("status", "title", "expected"),
    [
        (403, "Forbidden", "refused the API key"),
        (422, "Unprocessable Content", "answered 422 \\(Unprocessable Content; broken\\)"),
        (422, "Idempotency-Key reused", "imported before with another batch size"),
    ],
)
def test_a_problem_answer_stops_the_import(
    tmp_path: Path, run: Run, fake: FakeIngest, status: int, title: str, expected: str
):
    fake.problem = (status, {"title": title, "detail": "broken"})

    with pytest.raises(ImportFailed, match=expected):
        run(telegram_export(tmp_path))
    assert fake.acknowledged == []


def test_the_api_key_never_appears_in_output(tmp_path: Path, run: Run, fake: FakeIngest):
    path = telegram_export(tmp_path)
    fake.unavailable_once.add(keys(path, 5)[0])
    fake.reject_text = "message 3"
    fake.down_after = 3
    with pytest.raises(ImportFailed) as failure:
        run(path)
    fake.down_after = None
    run(path)

    assert API_KEY not in run.printed
    assert API_KEY not in str(failure.value)
    assert all(API_KEY not in p.read_text() for p in run.state_dir.iterdir())


def test_the_same_file_can_go_into_a_second_community_under_keys_of_its_own(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)
    run(path)

    report = run(path, community_id="community-2")

    assert (report.sent, report.accepted) == (5, 9)
    assert fake.acknowledged == keys(path, 5) + keys(path, 5, "community-2")


def test_an_unknown_community_stops_at_the_first_batch_and_can_be_corrected(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = telegram_export(tmp_path)

    with pytest.raises(ImportFailed, match="unknown community: check the community id"):
        run(path, community_id="community-typo")
    report = run(path)

    assert fake.acknowledged[-5:] == keys(path, 5)
    assert (report.sent, report.accepted) == (5, 9)


def test_a_file_that_is_no_export_is_refused_before_anything_is_sent(
    tmp_path: Path, run: Run, fake: FakeIngest
):
    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")

    with pytest.raises(ValueError, match="not a chat export"):
        run(path)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ingest.example:8000", "must be http"),
        ("http://user:pw@ingest.example", "must not hold credentials"),
    ],
)
def test_a_bad_api_url_is_refused_before_anything_is_sent(
    tmp_path: Path, fake: FakeIngest, url: str, expected: str
):
    with pytest.raises(ValueError, match=expected):
        run_import(
            telegram_export(tmp_path),
            community_id=COMMUNITY,
            api_url=url,
            api_key=API_KEY,
            state_dir=tmp_path / "state",
            console=Console(file=io.StringIO()),
            transport=httpx.MockTransport(fake),
        )
    assert fake.requests == []


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def sent_ids(fake: FakeIngest) -> list[str]:
    return [event["source_event_id"] for event in fake.events]


def test_since_and_until_send_only_the_events_in_between(
    tmp_path: Path, run: Run, fake: FakeIngest
) -> None:
    path = telegram_export(tmp_path, count=9)  # message n at 1717243200 + n

    report = run(path, since=at(1717243203), until=at(1717243206))

    assert sent_ids(fake) == ["3", "4", "5"]
    assert (report.accepted, report.ok) == (3, True)
    assert report.parse.skipped[OUTSIDE_WINDOW] == 6
    assert "outside --since/--until: 6" in run.printed


def test_another_window_over_the_same_file_is_another_import_and_counts_nothing_twice(
    tmp_path: Path, run: Run, fake: FakeIngest
) -> None:
    path = telegram_export(tmp_path, count=9)
    run(path, until=at(1717243205))  # 1-4

    report = run(path, since=at(1717243203))  # 3-9: a new window, not "already imported"

    assert (report.accepted, report.duplicates, report.rejected) == (5, 2, 0)
    assert len(set(fake.acknowledged)) == len(fake.acknowledged)  # no batch key reused


def test_a_window_needs_a_zone_and_an_order(tmp_path: Path, run: Run) -> None:
    path = telegram_export(tmp_path)
    with pytest.raises(ValueError, match="time zone"):
        run(path, since=datetime(2024, 6, 1))
    with pytest.raises(ValueError, match="before --until"):
        run(path, since=at(1717243205), until=at(1717243205))


def test_bounds_are_iso_8601_and_utc_without_an_offset() -> None:
    assert parse_bound("2024-06-01", "since") == datetime(2024, 6, 1, tzinfo=UTC)
    assert parse_bound("2024-06-01T12:00:00+02:00", "until") == datetime(2024, 6, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since 'last week' is not an ISO 8601 time"):
        parse_bound("last week", "since")


def test_the_cli_takes_since_and_until(tmp_path: Path) -> None:
    path = telegram_export(tmp_path)
    runner = CliRunner()

    answer = runner.invoke(
        cli.app,
        ["import", str(path), "--community", COMMUNITY, "--api-key", API_KEY, "--since", "soon"],
    )

    assert answer.exit_code == 1
    assert "--since 'soon' is not an ISO 8601 time" in answer.output
