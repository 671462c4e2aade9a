"""Failed-login throttle: window, lockout, checks under way, bounded memory."""

from __future__ import annotations

from engine.api.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, address: str, login: str = "admin") -> bool:
    assert throttle.reserve(address, login) is None
    return throttle.release(address, login, succeeded=False)


def test_lockout_after_max_failures_in_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=clock)
    assert not _fail(throttle, "a")
    assert not _fail(throttle, "a")
    assert _fail(throttle, "a")
    assert throttle.reserve("a", "admin") == 30 and throttle.retry_after("a", "admin") == 30
    # Other addresses are not concerned.
    assert throttle.reserve("b", "admin") is None
    clock.now += 29.5
    assert throttle.reserve("a", "admin") == 1
    clock.now += 0.5
    assert throttle.retry_after("a", "admin") is None
    assert throttle.reserve("a", "admin") is None


def test_old_failures_expire_and_success_resets() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=clock)
    _fail(throttle, "a")
    _fail(throttle, "a")
    clock.now += 10
    assert not _fail(throttle, "a")
    assert not _fail(throttle, "a")
    assert throttle.reserve("a", "admin") is None
    throttle.release("a", "admin", succeeded=True)
    assert len(throttle) == 0
    assert not _fail(throttle, "a") and not _fail(throttle, "a")


def test_checks_under_way_count() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, clock=Clock())
    assert [throttle.reserve("a", "admin") for _ in range(4)] == [None, None, None, 1]
    # A failed check still counts, as a failure now.
    throttle.release("a", "admin", succeeded=False)
    assert throttle.reserve("a", "admin") == 1
    throttle.release("a", "admin", succeeded=True)
    assert throttle.reserve("a", "admin") is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=10, lockout_s=30, max_addresses=100, clock=Clock())
    for index in range(1000):
        _fail(throttle, f"10.0.{index // 256}.{index % 256}")
    assert len(throttle) <= 101


def test_pair_not_address_is_locked_and_lockouts_grow() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, window_s=10, lockout_s=30, max_lockout_s=100, clock=clock)
    _fail(throttle, "10.0.0.9")
    assert _fail(throttle, "10.0.0.9")
    # The right password from another address, and another login from the guesser's address, still run.
    assert throttle.reserve("127.0.0.1", "admin") is None
    throttle.release("127.0.0.1", "admin", succeeded=True)
    assert throttle.reserve("10.0.0.9", "operator") is None
    assert throttle.retry_after("10.0.0.9", "admin") == 30
    lengths = []
    for _ in range(3):
        clock.now += throttle.retry_after("10.0.0.9", "admin") or 0
        _fail(throttle, "10.0.0.9")
        assert _fail(throttle, "10.0.0.9")
        lengths.append(throttle.retry_after("10.0.0.9", "admin"))
    # Each lockout after another doubles, up to the cap.
    assert lengths == [60, 100, 100]
    clock.now += 100
    assert throttle.reserve("10.0.0.9", "admin") is None
    throttle.release("10.0.0.9", "admin", succeeded=True)
    _fail(throttle, "10.0.0.9")
    assert _fail(throttle, "10.0.0.9")
    # A successful login resets the growth.
    assert throttle.retry_after("10.0.0.9", "admin") == 30
