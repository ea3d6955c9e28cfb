"""Request signature checks, one small function per platform.

Each takes the raw body bytes and the request headers with lower-case names, returns
None when the request is signed by the binding's secret and raises SignatureInvalid
with a short reason otherwise. Reasons never carry the secret or the expected signature.
An empty secret never verifies: a binding without one fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from slack_sdk.signature import SignatureVerifier

from services.ingest.domain.model import SignatureInvalid

SLACK_DEFAULT_TOLERANCE_S = 300
"""Slack's recommended window: refuse timestamps more than five minutes off."""


def _header(headers: Mapping[str, str], name: str) -> str:
    """Return a required header's value (`name` is lower-case), or raise SignatureInvalid."""
    value = headers.get(name)
    if not value:
        raise SignatureInvalid(f"missing {name} header")
    return value


def unix_seconds(value: str, header: str) -> int:
    """A signature timestamp header: unix seconds, at most 12 digits (a float cannot hold
    more, and a 400-digit one once made the age check raise OverflowError, a 500)."""
    if not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise SignatureInvalid(f"malformed {header} header")
    return int(value)


def _require_secret(secret: str) -> None:
    if not secret or not secret.strip():
        raise SignatureInvalid("the binding has no signing secret")


def _verify_sha256_header(secret: str, body: bytes, signature: str, header: str) -> None:
    """Check a `sha256=<hex HMAC-SHA256 of body>` header in constant time."""
    _require_secret(secret)
    if not signature.startswith("sha256="):
        raise SignatureInvalid(f"malformed {header} header")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureInvalid("bad signature")


def verify_slack(
    signing_secret: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance_s: int = SLACK_DEFAULT_TOLERANCE_S,
) -> None:
    """Check X-Slack-Signature (`v0=` HMAC of `v0:{timestamp}:{body}`) and its timestamp's age."""
    if tolerance_s < 1:
        raise ValueError("tolerance_s must be at least one second")
    _require_secret(signing_secret)
    timestamp = _header(headers, "x-slack-request-timestamp")
    signature = _header(headers, "x-slack-signature")
    sent_at = unix_seconds(timestamp, "x-slack-request-timestamp")
    # SignatureVerifier.is_valid reads the wall clock against a fixed five-minute window;
    # the window here is the caller's (`now`, tolerance_s), so only the signature itself
    # is left to slack_sdk.
    if abs(now.timestamp() - sent_at) > tolerance_s:
        raise SignatureInvalid("stale x-slack-request-timestamp (replay or clock skew)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureInvalid("body is not UTF-8") from None
    expected = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=text)
    if expected is None or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureInvalid("bad signature")


def verify_github(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check X-Hub-Signature-256 (`sha256=` HMAC-SHA256 of the body)."""
    signature = _header(headers, "x-hub-signature-256")
    _verify_sha256_header(secret, body, signature, "x-hub-signature-256")


def verify_discourse(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check X-Discourse-Event-Signature (`sha256=` HMAC-SHA256 of the body)."""
    signature = _header(headers, "x-discourse-event-signature")
    _verify_sha256_header(secret, body, signature, "x-discourse-event-signature")
