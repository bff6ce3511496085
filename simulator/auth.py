"""LWA access tokens, Restricted Data Tokens and per-operation token buckets, as the simulator enforces them."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

# The strings Amazon returns with 403 Unauthorized (Developer Guide, Tokens guide).
DENIED = "Access to requested resource is denied."
MISSING = "Access token is missing in the request header."
EXPIRED = "The access token you provided has expired."
INVALID = "The access token you provided is revoked, malformed or invalid."
NEEDS_RDT = "This operation needs a Restricted Data Token whose restrictedResources cover this method and path."
RDT_SCOPE = "The restricted data token you provided does not cover this method and path."


@dataclass(frozen=True)
class Resource:
    """One restrictedResources entry; a '{name}' segment stands for any single path segment."""

    method: str
    path: str

    def covers(self, method: str, path: str) -> bool:
        if method != self.method:
            return False
        wanted = [unquote(part) for part in self.path.strip("/").split("/")]
        actual = [unquote(part) for part in path.strip("/").split("/")]
        if len(wanted) != len(actual):
            return False
        return all(w == a or (w.startswith("{") and w.endswith("}")) for w, a in zip(wanted, actual, strict=True))


@dataclass
class _Token:
    kind: str  # "access" or "rdt"
    expires_at: float
    resources: tuple[Resource, ...] = ()


class TokenStore:
    """Issues and checks tokens; expiry uses a monotonic clock so wall-clock jumps cannot revive a token."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue_access_token(self, ttl: float) -> str:
        token = "Atza|" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token("access", self._clock() + ttl)
        return token

    def issue_rdt(self, resources: Sequence[Resource], ttl: float) -> str:
        token = "Atz.sprdt|" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token("rdt", self._clock() + ttl, tuple(resources))
        return token

    def expire_all(self) -> int:
        """Make every token issued so far expired (the expire_tokens fault); returns how many."""
        with self._lock:
            now = self._clock()
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now - 1)
            return len(self._tokens)

    def counts(self) -> dict[str, int]:
        with self._lock:
            now = self._clock()
            live = [t for t in self._tokens.values() if t.expires_at > now]
            return {
                "access_tokens": sum(t.kind == "access" for t in live),
                "restricted_data_tokens": sum(t.kind == "rdt" for t in live),
                "expired": len(self._tokens) - len(live),
            }

    def denial(self, header: str | None, method: str, path: str, *, restricted: bool) -> str | None:
        """None when the token may call method+path; otherwise the 'details' string of the 403."""
        if not header:
            return MISSING
        with self._lock:
            token = self._tokens.get(header.strip())
            now = self._clock()
        if token is None:
            return INVALID
        if token.expires_at <= now:
            return EXPIRED
        if token.kind == "rdt":
            # An RDT is bound to the resources it was minted for, whatever the operation.
            return None if any(r.covers(method, path) for r in token.resources) else RDT_SCOPE
        return NEEDS_RDT if restricted else None


class TokenBucket:
    """Amazon's usage plan: `rate` requests per second refill a bucket of `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class RateLimiter:
    """One bucket per operation, created on first use."""

    def __init__(self, plans: dict[str, tuple[float, int]], clock: Callable[[], float] = time.monotonic) -> None:
        self._plans = plans
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def rate(self, operation: str) -> float:
        return self._plans[operation][0]

    def allow(self, operation: str) -> bool:
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                rate, burst = self._plans[operation]
                bucket = self._buckets[operation] = TokenBucket(rate, burst, self._clock)
        return bucket.take()
