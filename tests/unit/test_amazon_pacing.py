"""Token bucket and backoff policy for SP-API calls."""

from __future__ import annotations

import threading

import pytest

from adapters.amazon.pacing import RetryPolicy, TokenBucket
from tests.support.amazon_fixtures import VirtualClock


def test_burst_is_free_then_one_token_per_interval(virtual_clock: VirtualClock) -> None:
    bucket = TokenBucket(10, 10, clock=virtual_clock, sleep=virtual_clock.sleep)
    waits = [bucket.acquire() for _ in range(15)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.1] * 5)
    assert virtual_clock.now == pytest.approx(1000.5)


def test_tokens_refill_while_idle_but_never_beyond_burst(virtual_clock: VirtualClock) -> None:
    bucket = TokenBucket(10, 10, clock=virtual_clock, sleep=virtual_clock.sleep)
    for _ in range(10):
        bucket.acquire()
    virtual_clock.advance(60)
    assert [bucket.reserve() for _ in range(10)] == [0.0] * 10
    assert bucket.reserve() == pytest.approx(0.1)


def test_concurrent_callers_get_distinct_slots(virtual_clock: VirtualClock) -> None:
    bucket = TokenBucket(10, 10, clock=virtual_clock, sleep=virtual_clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = bucket.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # With the clock frozen, 10 go at once and the other 30 queue 0.1 s apart: never two in one slot.
    assert sorted(waits) == pytest.approx([0.0] * 10 + [0.1 * n for n in range(1, 31)])


def test_fresh_gives_an_independent_full_bucket(virtual_clock: VirtualClock) -> None:
    template = TokenBucket(2, 2, clock=virtual_clock, sleep=virtual_clock.sleep)
    template.reserve()
    template.reserve()
    other = template.fresh()
    assert (other.rate, other.burst) == (2.0, 2)
    assert other.reserve() == 0.0
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0, 1)


def test_backoff_ceiling_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=1.0, random=lambda: 1.0)
    assert [policy.delay(n) for n in range(1, 6)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])


def test_full_jitter_spreads_delays_between_zero_and_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0)
    delays = [policy.delay(3) for _ in range(500)]
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert min(delays) < 0.2 and max(delays) > 1.8
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
