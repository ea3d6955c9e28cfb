"""Slack, GitHub and Discourse request signatures: what passes, what is refused and why."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain.model import SignatureInvalid
from services.ingest.domain.signatures import verify_discourse, verify_github, verify_slack

SECRET = "s3cr3t-9f86d081884c7d65"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
BODY = b'{"type":"event_callback","event_id":"Ev1","team_id":"T1"}'


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def slack_headers(
    body: bytes = BODY, *, secret: str = SECRET, sent_at: datetime = NOW
) -> dict[str, str]:
    timestamp = str(int(sent_at.timestamp()))
    signature = "v0=" + _hex(secret, f"v0:{timestamp}:".encode() + body)
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}


def refused(check, *args, **kwargs) -> str:
    """Run a check that must refuse; return its reason, which must not leak the secret."""
    with pytest.raises(SignatureInvalid) as caught:
        check(*args, **kwargs)
    reason = str(caught.value)
    assert SECRET not in reason
    return reason


# Slack ----------------------------------------------------------------------


def test_slack_accepts_the_example_from_slacks_documentation():
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
        b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    sent = datetime.fromtimestamp(1531420618, UTC)

    verify_slack("8f742231b10e8888abcd99yyyzzz85a5", body, headers, sent + timedelta(seconds=5))


def test_slack_accepts_a_request_signed_with_the_secret():
    verify_slack(SECRET, BODY, slack_headers(), NOW + timedelta(seconds=2))


def test_slack_refuses_another_secret():
    headers = slack_headers(secret="someone-elses-secret")
    assert refused(verify_slack, SECRET, BODY, headers, NOW) == "bad signature"


def test_slack_refuses_a_tampered_body():
    headers = slack_headers()
    tampered = BODY.replace(b"Ev1", b"Ev2")
    assert refused(verify_slack, SECRET, tampered, headers, NOW) == "bad signature"


@pytest.mark.parametrize("missing", ["x-slack-signature", "x-slack-request-timestamp"])
def test_slack_refuses_a_missing_header(missing):
    headers = slack_headers()
    del headers[missing]
    assert missing in refused(verify_slack, SECRET, BODY, headers, NOW)


def test_slack_refuses_a_timestamp_301_seconds_old():
    headers = slack_headers(sent_at=NOW - timedelta(seconds=301))
    assert "stale" in refused(verify_slack, SECRET, BODY, headers, NOW)


def test_slack_accepts_a_timestamp_exactly_at_the_edge_of_the_window():
    verify_slack(SECRET, BODY, slack_headers(sent_at=NOW - timedelta(seconds=300)), NOW)


def test_slack_refuses_a_timestamp_from_the_future():
    headers = slack_headers(sent_at=NOW + timedelta(seconds=301))
    assert "stale" in refused(verify_slack, SECRET, BODY, headers, NOW)


def test_slack_honours_a_wider_configured_window():
    headers = slack_headers(sent_at=NOW - timedelta(seconds=900))

    verify_slack(SECRET, BODY, headers, NOW, tolerance_s=1800)


def test_slack_checks_age_against_the_given_time_not_the_wall_clock():
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)

    verify_slack(SECRET, BODY, slack_headers(sent_at=long_ago), long_ago)


def test_slack_refuses_a_malformed_timestamp():
    headers = {**slack_headers(), "x-slack-request-timestamp": "yesterday"}
    assert "malformed" in refused(verify_slack, SECRET, BODY, headers, NOW)


def test_slack_refuses_when_the_binding_has_no_secret():
    headers = slack_headers(secret="")
    assert "no signing secret" in refused(verify_slack, "", BODY, headers, NOW)


def test_slack_reason_does_not_reveal_the_expected_signature():
    headers = {**slack_headers(), "x-slack-signature": "v0=" + "0" * 64}
    expected = slack_headers()["x-slack-signature"]
    reason = refused(verify_slack, SECRET, BODY, headers, NOW)
    assert expected not in reason
    assert expected.removeprefix("v0=") not in reason


# GitHub and Discourse: the same sha256=<hex HMAC of the body> scheme ---------

HMAC_SCHEMES = [
    pytest.param(verify_github, "x-hub-signature-256", id="github"),
    pytest.param(verify_discourse, "x-discourse-event-signature", id="discourse"),
]


def test_github_accepts_the_example_from_githubs_documentation():
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    verify_github(
        "It's a Secret to Everybody", b"Hello, World!", {"x-hub-signature-256": signature}
    )


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_accepts_a_body_signed_with_the_secret(verify, header):
    verify(SECRET, BODY, {header: "sha256=" + _hex(SECRET, BODY)})


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_another_secret(verify, header):
    headers = {header: "sha256=" + _hex("someone-elses-secret", BODY)}
    assert refused(verify, SECRET, BODY, headers) == "bad signature"


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_a_tampered_body(verify, header):
    headers = {header: "sha256=" + _hex(SECRET, BODY)}
    assert refused(verify, SECRET, BODY + b" ", headers) == "bad signature"


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_a_missing_header(verify, header):
    assert header in refused(verify, SECRET, BODY, {})


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_a_signature_without_the_sha256_prefix(verify, header):
    headers = {header: _hex(SECRET, BODY)}
    assert "malformed" in refused(verify, SECRET, BODY, headers)


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_the_legacy_sha1_scheme(verify, header):
    sha1 = hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert "malformed" in refused(verify, SECRET, BODY, {header: f"sha1={sha1}"})


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_refuses_when_the_binding_has_no_secret(verify, header):
    headers = {header: "sha256=" + _hex("", BODY)}
    assert "no signing secret" in refused(verify, "", BODY, headers)


@pytest.mark.parametrize(("verify", "header"), HMAC_SCHEMES)
def test_reason_does_not_reveal_the_expected_signature(verify, header):
    expected = _hex(SECRET, BODY)
    reason = refused(verify, SECRET, BODY, {header: "sha256=" + "f" * 64})
    assert expected not in reason
