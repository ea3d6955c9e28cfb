"""`hearth dev` as a newcomer sees it: coloured lines on a terminal, JSON lines otherwise,
and a startup that says where everything is instead of a page of migration records."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.stack import free_port

pytestmark = pytest.mark.e2e


def dev_command(data_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "services.cli", "dev",
        "--port", str(port), "--data-dir", str(data_dir), *extra,
    ]  # fmt: skip


def dev_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_"))}
    env.pop("NO_COLOR", None)
    return {**env, "TERM": "xterm-256color", "COLUMNS": "160"}


def wait_ready(port: int, process: subprocess.Popen[bytes], output: Callable[[], str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"hearth dev exited:\n{output()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/insights/readyz", timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"hearth dev not ready:\n{output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def on_a_terminal(data_dir: Path, *extra: str) -> Iterator[list[bytes]]:
    """`hearth dev` with stdout and stderr on a pseudo-terminal; yields what it wrote so far."""
    port = free_port()
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        dev_command(data_dir, port, *extra), stdout=follower, stderr=follower, env=dev_env()
    )
    os.close(follower)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_ready(port, process, lambda: b"".join(chunks).decode(errors="replace"))
        yield chunks
    finally:
        stop(process)
        reader.join(timeout=10)
        os.close(leader)


def test_on_a_terminal_the_lines_are_coloured_and_startup_says_where_everything_is(
    tmp_path: Path,
) -> None:
    with on_a_terminal(tmp_path / "data") as chunks:
        pass
    text = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in text, "colours (ANSI escapes) on a terminal"
    assert not [line for line in text.splitlines() if line.lstrip().startswith('{"')], text
    for shown in ("Hearth is ready", "/docs", "/metrics", "dev-api-key", str(tmp_path / "data")):
        assert shown in text, f"{shown!r} missing from the startup:\n{text}"
    assert "Running upgrade" not in text, "no migration records at INFO"
    key = (tmp_path / "data" / "dev-api-key").read_text().strip()
    assert key in text, "the first start shows the admin key"


def test_log_format_json_gives_json_even_on_a_terminal(tmp_path: Path) -> None:
    with on_a_terminal(tmp_path / "data", "--log-format", "json") as chunks:
        pass
    key = (tmp_path / "data" / "dev-api-key").read_text().strip()
    lines = [
        line
        for line in b"".join(chunks).decode(errors="replace").splitlines()
        if line.strip() and line.strip() != key
    ]
    records = [json.loads(line) for line in lines]  # every other line is a JSON record
    assert any(record["message"] == "hearth is ready" for record in records)


def test_piped_output_is_json_lines_with_a_ready_record_and_the_key_alone_on_stdout(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            dev_command(data_dir, port), stdout=stdout, stderr=stderr, env=dev_env()
        )
        try:
            wait_ready(port, process, lambda: err.read_text(errors="replace"))
        finally:
            stop(process)
    records = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    ready = [r for r in records if r["message"] == "hearth is ready"]
    assert len(ready) == 1
    assert ready[0]["docs"] == f"http://127.0.0.1:{port}/docs"
    assert ready[0]["data_dir"] == str(data_dir.resolve())
    assert ready[0]["key_file"] == str(data_dir.resolve() / "dev-api-key")
    assert set(ready[0]["services"]) == {"ingest", "moderation", "gamification", "insights"}
    assert not [r for r in records if r["logger"].startswith("alembic")], "no migration records"
    before_ready = records[: records.index(ready[0])]
    assert len(before_ready) <= 5, [r["message"] for r in before_ready]
    key = (data_dir / "dev-api-key").read_text().strip()
    assert out.read_text().strip() == key, "stdout carries the key alone"
    assert key not in err.read_text(), "the key is never logged"
