"""Client-side pacing and retry for SP-API calls: a token bucket per operation and capped, jittered backoff."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """A thread-safe token bucket: `rate` tokens per second, at most `burst` saved up.

    Amazon throttles each DF operation with a bucket of 10/s, burst 10; spending from a bucket of the same
    shape on our side means a burst of calls waits here instead of meeting a 429.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"TokenBucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def fresh(
        self,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> TokenBucket:
        """A new, full bucket of the same shape (one per operation is built from a template)."""
        return TokenBucket(self.rate, self.burst, clock=clock or self._clock, sleep=sleep or self._sleep)

    def reserve(self) -> float:
        """Take one token now, possibly on credit; return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            # A negative balance is a queue: each waiter owns one slot 1/rate seconds after the previous one.
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until one token is available; return the time waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by total time.

    `delay(n)` for the n-th retry (1-based) is uniform in [0, min(max_delay, base_delay * 2**(n-1))]:
    full jitter spreads the retries of many callers that failed together (AWS architecture blog, "Exponential
    Backoff And Jitter").
    """

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_total: float = 60.0
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy needs max_attempts >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def ceiling(self, retry_number: int) -> float:
        """The largest delay the n-th retry may draw."""
        return float(min(self.max_delay, self.base_delay * (2 ** (retry_number - 1))))

    def delay(self, retry_number: int) -> float:
        """A jittered delay for the n-th retry (1-based)."""
        return self.random() * self.ceiling(retry_number)
