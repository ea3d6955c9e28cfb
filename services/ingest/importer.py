"""`hearth import FILE --community C`: send a chat export's history to the ingest API.

The export is read by the pure parsers in domain/imports and sent in batches to
`POST /v1/ingest/events`. Every batch carries `Idempotency-Key:
import-<sha256 of the file>-<community id>-<batch number>` and every event a
dedup_key derived from the export, so a batch sent twice is answered once and an
event is accepted once. The community is part of the key because the API keeps a
key's first body for good: without it, a file sent once to a mistyped community
could never be imported into the right one.

Resumable: a checkpoint `<state_dir>/<sha256>-<community id>.json` records how many
batches the API acknowledged (numbered from 1). A rerun of the same file skips those,
so an import cut off by a network failure or Ctrl-C goes on where it stopped; a
rerun after completion sends nothing. Batch boundaries depend only on the file and
the batch size, so a resumed import keeps the batch size it started with.

`since` / `until` send only events with since <= occurred_at < until. A window changes
the batches, so it is part of the checkpoint's name and of every Idempotency-Key: the
same file imported with another window is another import, while its events keep their
dedup keys and an event sent by both imports is accepted once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential

from services.ingest.domain.imports import ImportFormat, ParseStats, detect_format, parse_export
from services.ingest.domain.imports.batches import batch_body, batches
from services.ingest.schemas import MAX_BATCH, EventIn

EVENTS_PATH = "/v1/ingest/events"
COUNT_UP_TO_BYTES = 16 * 1024 * 1024
"""Exports up to this size are read twice, once to count events for the progress bar."""
RETRIED_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 6
MAX_WAIT_SECONDS = 60.0
SHOWN_REJECTIONS = 10
OUTSIDE_WINDOW = "outside --since/--until"


class ImportFailed(Exception):
    """The import stopped; the message says why and what to do. Acknowledged batches stay saved."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Rejection:
    """One event the API rejected: where it was in the import, and the API's reasons."""

    batch: int
    index: int
    dedup_key: str | None
    errors: str


@dataclass
class ImportReport:
    """What an import did; counts cover every run over the same file, `sent` this run only."""

    path: Path
    format: ImportFormat
    sha256: str
    community_id: str
    batch_size: int
    batches: int = 0
    acknowledged: int = 0
    sent: int = 0
    resumed: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    parse: ParseStats = field(default_factory=ParseStats)
    complete: bool = False
    since: datetime | None = None
    until: datetime | None = None

    @property
    def window(self) -> str:
        """ "" for the whole file, else a short stable name of the since/until window."""
        if self.since is None and self.until is None:
            return ""
        bounds = f"{_iso(self.since)}|{_iso(self.until)}"
        return "-w" + hashlib.sha256(bounds.encode()).hexdigest()[:12]

    def in_window(self, event: EventIn) -> bool:
        """Whether the event falls in [since, until)."""
        if self.since is not None and event.occurred_at < self.since:
            return False
        return self.until is None or event.occurred_at < self.until

    @property
    def ok(self) -> bool:
        """Every batch was acknowledged and no event was rejected."""
        return self.complete and self.rejected == 0


_SAVED = ("batch_size", "acknowledged", "complete", "accepted", "duplicates", "rejected")


def _load_checkpoint(report: ImportReport, path: Path) -> None:
    """Take over what earlier runs of this import recorded, if any."""
    if not path.exists():
        return
    saved = json.loads(path.read_text(encoding="utf-8"))
    for name in _SAVED:
        setattr(report, name, saved[name])
    report.rejections = [Rejection(**r) for r in saved["rejections"]]


def _save_checkpoint(report: ImportReport, path: Path) -> None:
    """Write atomically: a crash leaves the previous checkpoint, never half of one."""
    saved = {name: getattr(report, name) for name in _SAVED}
    saved |= {"file": str(report.path.resolve()), "sha256": report.sha256, "format": report.format}
    saved |= {"community_id": report.community_id}
    saved |= {"since": _iso(report.since), "until": _iso(report.until)}
    saved["rejections"] = [asdict(r) for r in report.rejections]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    os.replace(temporary, path)


class _Unavailable(Exception):
    """The API answered with a status worth retrying (503 and gateway errors)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.status = response.status_code
        self.retry_after = _retry_after(response.headers.get("Retry-After"))


def run_import(
    path: Path,
    *,
    community_id: str,
    api_url: str,
    api_key: str,
    batch_size: int = 500,
    state_dir: Path,
    console: Console,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = MAX_ATTEMPTS,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ImportReport:
    """Send the export at `path` to the community, resuming an earlier run of the same file.

    Only events with since <= occurred_at < until are sent (aware datetimes; None: no
    bound). Raises ValueError when the file is no known export or the window is empty or
    naive, ImportFailed when the API refuses a batch or stays unreachable (batches
    acknowledged so far stay saved). `transport`, `sleep` and `max_attempts` exist for
    tests and tuning.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.utcoffset() is None:
            raise ValueError(f"--{name} needs a time zone (e.g. 2024-06-01T00:00:00Z)")
    if since is not None and until is not None and since >= until:
        raise ValueError("--since must be before --until")
    _check_url(api_url)
    with path.open("rb") as file:
        try:
            fmt = detect_format(file)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    digest = _sha256(path)
    report = ImportReport(
        path=path,
        format=fmt,
        sha256=digest,
        community_id=community_id,
        batch_size=batch_size,
        since=since,
        until=until,
    )
    checkpoint = state_dir / f"{digest}-{_slug(community_id)}{report.window}.json"
    _load_checkpoint(report, checkpoint)
    if report.complete:
        console.print(
            f"{path.name} was already imported into {community_id} "
            f"({report.acknowledged} batches: {report.accepted} accepted, "
            f"{report.duplicates} duplicate, {report.rejected} rejected); nothing to send."
        )
        return report
    if report.batch_size != batch_size:
        console.print(
            f"Resuming with batch size {report.batch_size}, the size this import "
            f"started with (asked for {batch_size})."
        )
    if report.acknowledged:
        console.print(
            f"Resuming {path.name}: batches 1-{report.acknowledged} were acknowledged "
            "by an earlier run and are skipped."
        )
    report.resumed = report.acknowledged
    _save_checkpoint(report, checkpoint)  # before the first batch: its key is taken once sent
    sender = _Sender(api_url, api_key, transport, sleep, max_attempts, console)
    try:
        _send_all(report, checkpoint, sender)
    finally:
        sender.close()
    _summarize(report, console)
    return report


def _send_all(report: ImportReport, checkpoint: Path, sender: _Sender) -> None:
    path = report.path
    total = _count(report) if path.stat().st_size <= COUNT_UP_TO_BYTES else None
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=sender.console,
    )
    with (
        path.open("rb") as file,
        progress,
        # Closed before the file is, also when sending stops half way.
        closing(
            parse_export(file, report.format, community_id=report.community_id, stats=report.parse)
        ) as events,
    ):
        task = progress.add_task(f"Importing {path.name}", total=total)
        chosen = _windowed(report, events)
        for number, batch in enumerate(batches(chosen, report.batch_size), start=1):
            report.batches = number
            if number > report.acknowledged:
                scope = f"{report.sha256}-{_slug(report.community_id)}{report.window}"
                key = f"import-{scope}-{number}"
                try:
                    items = sender.send(batch_body(batch), key, number)
                except _Stop as stop:
                    raise ImportFailed(f"{stop}{_resume_hint(report)}", report) from None
                _tally(report, number, batch, items)
                report.acknowledged = number
                report.sent += 1
                _save_checkpoint(report, checkpoint)
            progress.advance(task, len(batch))
    report.complete = True
    _save_checkpoint(report, checkpoint)


def _resume_hint(report: ImportReport) -> str:
    if not report.acknowledged:
        return " Nothing was imported yet."
    return (
        f" Batches 1-{report.acknowledged} were acknowledged and are kept; run the same "
        "command again to resume after them."
    )


class _Stop(Exception):
    """Sending cannot go on; the message is for the person running the import."""


class _Sender:
    """POSTs batch bodies, retrying what is worth retrying, and reads the per-event answers."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
        max_attempts: int,
        console: Console,
    ) -> None:
        self._where = _safe_url(api_url)
        self._client = httpx.Client(
            base_url=api_url,
            transport=transport,
            timeout=httpx.Timeout(120.0, connect=10.0),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )
        self._sleep = sleep
        self._max_attempts = max_attempts
        self.console = console

    def close(self) -> None:
        self._client.close()

    def send(self, body: bytes, key: str, number: int) -> list[Mapping[str, Any]]:
        """The API's answer for each event of the batch, in order."""
        response = self._post(body, key, number)
        if response.status_code in (200, 207):
            items = _json(response).get("items")
            if not isinstance(items, list):
                raise _Stop(
                    f"Batch {number}: the API answered {response.status_code} without items."
                )
            answers = [item for item in items if isinstance(item, Mapping)]
            if answers and all(_unknown_community(item) for item in answers):
                raise _Stop(
                    f"Batch {number}: the API rejected every event for an unknown community: "
                    "check the community id, and that this API key may access it."
                )
            return answers
        raise _Stop(_refusal(response, number))

    def _post(self, body: bytes, key: str, number: int) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=_wait,
            retry=retry_if_exception_type((httpx.TransportError, _Unavailable)),
            sleep=self._sleep,
            before_sleep=lambda state: self._say_retry(state, number),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._client.post(
                        EVENTS_PATH, content=body, headers={"Idempotency-Key": key}
                    )
                    if response.status_code in RETRIED_STATUSES:
                        raise _Unavailable(response)
        except _Unavailable as exc:
            raise _Stop(
                f"Batch {number}: the ingest API at {self._where} was still unavailable "
                f"({exc.status}) after {self._max_attempts} attempts."
            ) from None
        except httpx.TransportError as exc:
            raise _Stop(
                f"Batch {number}: could not reach the ingest API at {self._where} after "
                f"{self._max_attempts} attempts ({type(exc).__name__}: {exc})."
            ) from None
        return response

    def _say_retry(self, state: RetryCallState, number: int) -> None:
        error = state.outcome.exception() if state.outcome else None
        why = f"unavailable ({error.status})" if isinstance(error, _Unavailable) else "unreachable"
        wait = state.next_action.sleep if state.next_action else 0
        self.console.print(
            f"Batch {number}: the ingest API is {why}; retrying in {wait:.0f} s "
            f"(attempt {state.attempt_number + 1} of {self._max_attempts})."
        )


def _wait(state: RetryCallState) -> float:
    """Retry-After when the API gives one, else exponential backoff; capped either way."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _Unavailable) and error.retry_after is not None:
        return min(error.retry_after, MAX_WAIT_SECONDS)
    return float(wait_exponential(multiplier=1, max=MAX_WAIT_SECONDS)(state))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _refusal(response: httpx.Response, number: int) -> str:
    """What a refused batch means for the person running the import."""
    problem = _json(response)
    status = response.status_code
    said = (
        "; ".join(str(part) for part in (problem.get("title"), problem.get("detail")) if part)
        or response.reason_phrase
    )
    if status in (401, 403):
        return (
            f"The API refused the API key ({status}: {said}). Check that the key is valid, "
            "has the events:write scope and may access this community."
        )
    if status == 422 and problem.get("title") == "Idempotency-Key reused":
        return (
            f"Batch {number}: the API already took this batch key with different events "
            f"({said}): this file was imported before with another batch size; rerun with "
            "that one."
        )
    if status == 413:
        return f"Batch {number} is too large for the API ({said}); use a smaller batch size."
    errors = problem.get("errors")
    details = f" {_errors(errors)}" if isinstance(errors, list) and errors else ""
    return f"Batch {number}: the API answered {status} ({said}).{details}"


def _unknown_community(item: Mapping[str, Any]) -> bool:
    errors = item.get("errors")
    return (
        item.get("status") == "rejected"
        and isinstance(errors, list)
        and any(isinstance(e, Mapping) and e.get("loc") == "community_id" for e in errors)
    )


def _tally(
    report: ImportReport, number: int, batch: list[EventIn], items: list[Mapping[str, Any]]
) -> None:
    for item in items:
        status = item.get("status")
        if status == "accepted":
            report.accepted += 1
        elif status == "duplicate":
            report.duplicates += 1
        else:
            report.rejected += 1
            if len(report.rejections) < SHOWN_REJECTIONS:
                report.rejections.append(_rejection(number, batch, item))


def _rejection(number: int, batch: list[EventIn], item: Mapping[str, Any]) -> Rejection:
    index = item.get("index")
    event = batch[index] if isinstance(index, int) and 0 <= index < len(batch) else None
    errors = item.get("errors") or item.get("error") or item.get("status")
    return Rejection(
        batch=number,
        index=index if isinstance(index, int) else -1,
        dedup_key=event.dedup_key if event else None,
        errors=_errors(errors) if isinstance(errors, list) else str(errors),
    )


def _summarize(report: ImportReport, console: Console) -> None:
    earlier = f", {report.resumed} acknowledged earlier" if report.resumed else ""
    console.print(
        f"Imported {report.path.name} ({report.format}) into {report.community_id}: "
        f"{report.batches} batch(es), {report.sent} sent now{earlier}; "
        f"{report.accepted} accepted, {report.duplicates} duplicate, {report.rejected} rejected."
    )
    if report.parse.skipped:
        reasons = ", ".join(
            f"{reason}: {count}" for reason, count in report.parse.skipped.most_common()
        )
        console.print(f"Skipped {report.parse.skipped_total} export item(s): {reasons}.")
    if report.rejections:
        console.print(f"Rejected events (first {len(report.rejections)} of {report.rejected}):")
        for r in report.rejections:
            console.print(f"  batch {r.batch} #{r.index} {r.dedup_key or '-'}: {r.errors}")


def parse_bound(text: str | None, name: str) -> datetime | None:
    """A --since / --until value: ISO 8601, a date or a time; without an offset it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--{name} {text[:40]!r} is not an ISO 8601 time like 2024-06-01T12:00:00Z"
        ) from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _windowed(report: ImportReport, events: Iterable[EventIn]) -> Iterator[EventIn]:
    """The events inside the report's window; the others are counted as skipped."""
    for event in events:
        if report.in_window(event):
            yield event
        else:
            report.parse.skip(OUTSIDE_WINDOW)


def _count(report: ImportReport) -> int:
    with report.path.open("rb") as file:
        events = parse_export(file, report.format, community_id=report.community_id)
        return sum(1 for event in events if report.in_window(event))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _errors(errors: list[Any]) -> str:
    return "; ".join(
        f"{e.get('loc', '')}: {e.get('msg', '')}" if isinstance(e, Mapping) else str(e)
        for e in errors
    )


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"the API URL is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"the API URL must be http(s)://host[:port], got {_safe_url(url)!r}")
    if parsed.userinfo:
        # httpx would send them as Basic auth in place of the API key
        raise ValueError("the API URL must not hold credentials; the API key is sent by itself")


def _slug(community_id: str) -> str:
    """The community id as it may appear in a file name and a header (ULIDs pass unchanged)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", community_id)[:100]


def _safe_url(url: str) -> str:
    """The API's address without credentials or query, fit to print."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
