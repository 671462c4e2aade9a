"""Failed-login throttle: window, lockout, checks under way, bounded memory."""

from __future__ import annotations

from engine.api.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, address: str) -> bool:
    assert throttle.reserve(address) is None
    return throttle.release(address, succeeded=False)


def test_lockout_after_max_failures_in_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=clock)
    assert not _fail(throttle, "a")
    assert not _fail(throttle, "a")
    assert _fail(throttle, "a")
    assert throttle.reserve("a") == 30 and throttle.retry_after("a") == 30
    # Other addresses are not concerned.
    assert throttle.reserve("b") is None
    clock.now += 29.5
    assert throttle.reserve("a") == 1
    clock.now += 0.5
    assert throttle.retry_after("a") is None
    assert throttle.reserve("a") is None


def test_old_failures_expire_and_success_resets() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=clock)
    _fail(throttle, "a")
    _fail(throttle, "a")
    clock.now += 10
    assert not _fail(throttle, "a")
    assert not _fail(throttle, "a")
    assert throttle.reserve("a") is None
    throttle.release("a", succeeded=True)
    assert len(throttle) == 0
    assert not _fail(throttle, "a") and not _fail(throttle, "a")


def test_checks_under_way_count() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=Clock())
    assert [throttle.reserve("a") for _ in range(4)] == [None, None, None, 1]
    # A failed check still counts, as a failure now.
    throttle.release("a", succeeded=False)
    assert throttle.reserve("a") == 1
    throttle.release("a", succeeded=True)
    assert throttle.reserve("a") is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, max_addresses=100, clock=Clock())
    for index in range(1000):
        _fail(throttle, f"10.0.{index // 256}.{index % 256}")
    assert len(throttle) <= 101
