"""Only Telegram and Discord themselves get a delivery past verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nacl.signing import SigningKey

from services.ingest.domain.model import SignatureInvalid
from services.ingest.domain.signatures_bot import verify_discord, verify_telegram

SECRET = "s3cr3t-Token_for-hearth"


# --- Telegram -------------------------------------------------------------------------


def test_telegram_with_the_right_secret_token_passes() -> None:
    verify_telegram(SECRET, {"x-telegram-bot-api-secret-token": SECRET})


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-telegram-bot-api-secret-token": "guessed-Token"}, "secret token mismatch"),
        ({"x-telegram-bot-api-secret-token": SECRET[:-1]}, "secret token mismatch"),
        ({"x-telegram-bot-api-secret-token": ""}, "missing secret token"),
        ({"content-type": "application/json"}, "missing secret token"),
    ],
)
def test_telegram_without_the_right_secret_token_is_rejected(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureInvalid) as raised:
        verify_telegram(SECRET, headers)

    assert str(raised.value) == reason
    assert SECRET not in str(raised.value)


def test_telegram_binding_without_a_secret_rejects_everything() -> None:
    with pytest.raises(SignatureInvalid):
        verify_telegram("", {"x-telegram-bot-api-secret-token": ""})


# --- Discord --------------------------------------------------------------------------

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
BODY = b'{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1}'
KEY = SigningKey.generate()
PUBLIC_HEX = KEY.verify_key.encode().hex()


def signed(body: bytes = BODY, *, at: datetime = NOW, key: SigningKey = KEY) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + body).signature.hex()
    return {"x-signature-ed25519": signature, "x-signature-timestamp": timestamp}


def test_discord_signed_by_the_application_key_passes() -> None:
    verify_discord(PUBLIC_HEX, BODY, signed(), NOW)


def test_discord_signed_a_little_while_ago_passes() -> None:
    verify_discord(PUBLIC_HEX, BODY, signed(at=NOW - timedelta(seconds=299)), NOW)


def _drop(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != name}


CASES = {
    "tampered body": (PUBLIC_HEX, BODY.replace(b'"type":1', b'"type":2'), signed()),
    "another key": (PUBLIC_HEX, BODY, signed(key=SigningKey.generate())),
    "no signature": (PUBLIC_HEX, BODY, _drop(signed(), "x-signature-ed25519")),
    "no timestamp": (PUBLIC_HEX, BODY, _drop(signed(), "x-signature-timestamp")),
    "no headers": (PUBLIC_HEX, BODY, {}),
    "stale": (PUBLIC_HEX, BODY, signed(at=NOW - timedelta(seconds=301))),
    "from the future": (PUBLIC_HEX, BODY, signed(at=NOW + timedelta(seconds=301))),
    "timestamp not a number": (
        PUBLIC_HEX,
        BODY,
        {**signed(), "x-signature-timestamp": "2025-01-02T03:04:05Z"},
    ),
    "signature not hex": (PUBLIC_HEX, BODY, {**signed(), "x-signature-ed25519": "zz" * 64}),
    "signature too short": (PUBLIC_HEX, BODY, {**signed(), "x-signature-ed25519": "ab" * 10}),
    "public key not hex": ("not-a-key-" + PUBLIC_HEX[10:], BODY, signed()),
    "public key too short": (PUBLIC_HEX[:32], BODY, signed()),
}


@pytest.mark.parametrize(("public_hex", "body", "headers"), CASES.values(), ids=CASES.keys())
def test_discord_not_signed_now_by_the_application_key_is_rejected(
    public_hex: str, body: bytes, headers: dict[str, str]
) -> None:
    with pytest.raises(SignatureInvalid) as raised:
        verify_discord(public_hex, body, headers, NOW)

    message = str(raised.value)
    assert public_hex not in message
    assert PUBLIC_HEX not in message
    signature = headers.get("x-signature-ed25519")
    assert not signature or signature not in message


def test_discord_stale_timestamp_says_so() -> None:
    with pytest.raises(SignatureInvalid, match="outside the 300s window"):
        verify_discord(PUBLIC_HEX, BODY, signed(at=NOW - timedelta(hours=1)), NOW)


def test_discord_window_is_configurable() -> None:
    headers = signed(at=NOW - timedelta(seconds=30))

    verify_discord(PUBLIC_HEX, BODY, headers, NOW, tolerance_s=60)
    with pytest.raises(SignatureInvalid):
        verify_discord(PUBLIC_HEX, BODY, headers, NOW, tolerance_s=10)
