"""Proof that a Telegram or Discord delivery comes from the platform.

Telegram echoes the `secret_token` given to setWebhook in a header; Discord signs
interactions with Ed25519 over `timestamp + body`. Error messages say what failed,
never the secret or the key, because they end up in logs and problem+json bodies.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from services.ingest.domain.model import SignatureInvalid
from services.ingest.domain.signatures import unix_seconds

TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
DISCORD_SIGNATURE_HEADER = "x-signature-ed25519"
DISCORD_TIMESTAMP_HEADER = "x-signature-timestamp"


def verify_telegram(secret_token: str, headers: Mapping[str, str]) -> None:
    """Raise SignatureInvalid unless the request carries the webhook's secret token."""
    if not secret_token:
        # An empty secret would let an empty or absent header pass: fail closed.
        raise SignatureInvalid("no secret token configured for this binding")
    sent = headers.get(TELEGRAM_SECRET_HEADER)
    if not sent:
        raise SignatureInvalid("missing secret token")
    if not hmac.compare_digest(sent.encode(), secret_token.encode()):
        raise SignatureInvalid("secret token mismatch")


def verify_discord(
    public_key_hex: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance_s: int = 300,
) -> None:
    """Raise SignatureInvalid unless the Ed25519 signature of timestamp+body is good and fresh."""
    signature_hex = headers.get(DISCORD_SIGNATURE_HEADER)
    timestamp = headers.get(DISCORD_TIMESTAMP_HEADER)
    if not signature_hex or not timestamp:
        raise SignatureInvalid("missing X-Signature-Ed25519 or X-Signature-Timestamp")
    sent_at = unix_seconds(timestamp, "X-Signature-Timestamp")
    # A valid signature is replayable forever; the window bounds what a captured request is worth.
    if abs(now.timestamp() - sent_at) > tolerance_s:
        raise SignatureInvalid(f"X-Signature-Timestamp is outside the {tolerance_s}s window")
    try:
        key = VerifyKey(bytes.fromhex(public_key_hex))
    except ValueError:
        raise SignatureInvalid("the binding's public key is not a 32-byte hex key") from None
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise SignatureInvalid("X-Signature-Ed25519 is not hex") from None
    try:
        key.verify(timestamp.encode() + body, signature)
    except (BadSignatureError, ValueError):
        # PyNaCl raises ValueError for a signature of the wrong length.
        raise SignatureInvalid("signature mismatch") from None
