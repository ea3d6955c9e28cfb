"""Rate limits: a token bucket per API key and per webhook binding, kept in the process.

Each request spends one token of its bucket; a bucket holds `burst` tokens and gets
`per_second` back every second. An empty bucket answers 429 with `Retry-After` and the
IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10):

    RateLimit-Policy: "key";q=200;w=4
    RateLimit: "key";r=0;t=1

Buckets live in the process: with N replicas behind a load balancer a key gets up to
N times its quota. That is the documented trade (no shared store on the hot path); the
point is that one tenant's flood is refused before it can take another tenant's share
of a replica, not an exact global quota.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.api.problems import Problem

STATE_KEY = "ratelimit"  # request.state entry the headers middleware reads
KEY_POLICY = "key"
BINDING_POLICY = "binding"


class RateLimitSettings(BaseSettings):
    """HEARTH_RATELIMIT_*: quotas per API key and per webhook binding, per replica."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_RATELIMIT_", extra="ignore")

    enabled: bool = True
    key_per_second: float = Field(default=50.0, gt=0, description="tokens back per second")
    key_burst: int = Field(default=200, ge=1, description="requests a key may send at once")
    binding_per_second: float = Field(default=50.0, gt=0)
    binding_burst: int = Field(default=200, ge=1)
    max_buckets: int = Field(default=100_000, ge=100, description="idle buckets beyond are freed")


class TooManyRequests(Problem):
    """The caller's quota is spent; retry after the given seconds."""

    status = 429


@dataclass(frozen=True, slots=True)
class Policy:
    """A named quota: `burst` requests at once, `per_second` coming back."""

    name: str
    burst: int
    per_second: float

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to fill up: the `w` of RateLimit-Policy."""
        return max(1, math.ceil(self.burst / self.per_second))

    def header(self) -> str:
        """This policy as a RateLimit-Policy member."""
        return f'"{self.name}";q={self.burst};w={self.window}'


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit: allowed or not, what is left, when to come back."""

    policy: Policy
    allowed: bool
    remaining: int
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until one token is back (0 when allowed)

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (and Retry-After when refused)."""
        answer = {
            "RateLimit-Policy": self.policy.header(),
            "RateLimit": f'"{self.policy.name}";r={self.remaining};t={self.reset}',
        }
        if not self.allowed:
            answer["Retry-After"] = str(self.retry_after)
        return answer


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token buckets by (policy, key); one instance per app."""

    policies: dict[str, Policy]
    clock: Callable[[], float] = time.monotonic
    max_buckets: int = 100_000
    enabled: bool = True
    _buckets: MutableMapping[tuple[str, str], _Bucket] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: RateLimitSettings | None = None) -> RateLimiter:
        """A limiter with the key and binding policies of the settings."""
        settings = settings or RateLimitSettings()
        return cls(
            policies={
                KEY_POLICY: Policy(KEY_POLICY, settings.key_burst, settings.key_per_second),
                BINDING_POLICY: Policy(
                    BINDING_POLICY, settings.binding_burst, settings.binding_per_second
                ),
            },
            max_buckets=settings.max_buckets,
            enabled=settings.enabled,
        )

    def hit(self, policy_name: str, key: str) -> Decision:
        """Spend one token of `key`'s bucket under the named policy."""
        policy = self.policies[policy_name]
        now = self.clock()
        bucket = self._buckets.get((policy_name, key))
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._forget_idle(now)
            bucket = self._buckets[(policy_name, key)] = _Bucket(float(policy.burst), now)
        else:
            bucket.tokens = min(
                float(policy.burst), bucket.tokens + (now - bucket.updated) * policy.per_second
            )
            bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        missing = policy.burst - bucket.tokens
        wait = 0 if allowed else max(1, math.ceil((1 - bucket.tokens) / policy.per_second))
        return Decision(
            policy=policy,
            allowed=allowed,
            remaining=int(bucket.tokens),
            reset=math.ceil(missing / policy.per_second),
            retry_after=wait,
        )

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have filled up again: they hold nothing worth keeping."""
        for key, bucket in list(self._buckets.items()):
            policy = self.policies[key[0]]
            if bucket.tokens + (now - bucket.updated) * policy.per_second >= policy.burst:
                del self._buckets[key]
        if len(self._buckets) >= self.max_buckets:  # all busy: forget the oldest half
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


def limit_request(request: Request, policy_name: str, key: str) -> None:
    """Spend a token for this request; raise TooManyRequests when the bucket is empty.

    The decision is kept on request.state so the answer carries the RateLimit fields;
    apps without a limiter (app.state.rate_limiter unset) are not limited.
    """
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not limiter.enabled:
        return
    decision = limiter.hit(policy_name, key)
    setattr(request.state, STATE_KEY, decision)
    if not decision.allowed:
        raise TooManyRequests(
            f"Rate limit of the {policy_name} exceeded; retry in {decision.retry_after} s.",
            headers=decision.headers(),
        )


def decision_headers(scope: MutableMapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """The RateLimit fields to add to a response, from the request's scope state."""
    state = scope.get("state") or {}
    decision = state.get(STATE_KEY)
    if not isinstance(decision, Decision):
        return []
    return [(name.lower().encode(), value.encode()) for name, value in decision.headers().items()]
