#!/usr/bin/env python3
"""Wait until a Kafka broker answers a real metadata request with a non-empty broker list.

Used by deploy/local/stack. Exit 0 when ready, 1 on timeout, 2 when the watched
broker process (--pid) died first.

The check uses aiokafka when it is importable (the same client the services
use); otherwise it falls back to a hand-rolled Metadata v4 request over a plain
socket, so the stack can be started before the project's venv exists.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import struct
import sys
import time


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still "exists": look at its state
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


async def _probe_aiokafka(bootstrap: str, timeout: float) -> list[str]:
    from aiokafka.client import AIOKafkaClient  # type: ignore[import-not-found]

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        client_id="hearth-stack-ready",
        request_timeout_ms=int(timeout * 1000),
        metadata_max_age_ms=1000,
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        brokers = client.cluster.brokers()
        return [f"{b.nodeId}@{b.host}:{b.port}" for b in brokers]
    finally:
        await client.close()


def _kstr(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def _probe_socket(bootstrap: str, timeout: float) -> list[str]:
    """Metadata v4 (non-flexible) request for no topics; parse the broker array."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    body = struct.pack(">hhi", 3, 4, 1) + _kstr("hearth-stack-ready")  # api_key, version, corr id
    body += struct.pack(">i?", 0, False)  # topics: empty array, allow_auto_topic_creation
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4:
            chunk = sock.recv(4 - len(buf))
            if not chunk:
                raise ConnectionError("connection closed")
            buf += chunk
        (size,) = struct.unpack(">i", buf)
        resp = b""
        while len(resp) < size:
            chunk = sock.recv(size - len(resp))
            if not chunk:
                raise ConnectionError("connection closed")
            resp += chunk
    off = 4 + 4  # correlation id, throttle_time_ms
    (count,) = struct.unpack_from(">i", resp, off)
    off += 4
    brokers = []
    for _ in range(max(count, 0)):
        (node_id,) = struct.unpack_from(">i", resp, off)
        off += 4
        (hlen,) = struct.unpack_from(">h", resp, off)
        off += 2
        bhost = resp[off : off + hlen].decode()
        off += hlen
        (bport, rlen) = struct.unpack_from(">ih", resp, off)
        off += 6 + max(rlen, 0)
        brokers.append(f"{node_id}@{bhost}:{bport}")
    return brokers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="overall deadline, seconds")
    parser.add_argument("--pid", type=int, default=None, help="give up early if this process dies")
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--no-aiokafka", action="store_true", help="force the raw socket probe")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    # connection refusals while the broker boots are expected: keep them quiet
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    use_aiokafka = not args.no_aiokafka
    if use_aiokafka:
        try:
            import aiokafka  # noqa: F401  # type: ignore[import-not-found]
        except ImportError:
            use_aiokafka = False
    deadline = time.monotonic() + args.timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if not _pid_alive(args.pid):
            print(f"kafka_ready: broker process {args.pid} exited", file=sys.stderr)
            return 2
        per_try = max(0.5, min(5.0, deadline - time.monotonic()))
        try:
            if use_aiokafka:
                brokers = asyncio.run(_probe_aiokafka(args.bootstrap, per_try))
            else:
                brokers = _probe_socket(args.bootstrap, per_try)
            if brokers:
                if not args.quiet:
                    how = "aiokafka" if use_aiokafka else "raw metadata request"
                    print(f"kafka_ready: brokers {', '.join(brokers)} ({how})")
                return 0
            last_error = "metadata returned no brokers"
        except Exception as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(args.interval)
    print(f"kafka_ready: not ready after {args.timeout:.0f}s ({last_error})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
