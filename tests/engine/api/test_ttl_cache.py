"""``TtlCache``: one computation per interval, shared by concurrent callers; ``clear`` forces a fresh one."""

from __future__ import annotations

import asyncio

from engine.api.ttl_cache import TtlCache


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()

    async def compute(self) -> str:
        self.calls += 1
        await self.gate.wait()
        return f"value {self.calls}"


async def test_value_is_reused_until_cleared() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=3600)
    counter = Counter()
    counter.gate.set()
    assert await cache.get(counter.compute) == "value 1"
    assert await cache.get(counter.compute) == "value 1"
    cache.clear()
    assert await cache.get(counter.compute) == "value 2"
    assert counter.calls == 2


async def test_concurrent_misses_share_one_computation() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=3600)
    counter = Counter()
    waiting = [asyncio.ensure_future(cache.get(counter.compute)) for _ in range(5)]
    await asyncio.sleep(0)
    counter.gate.set()
    assert await asyncio.gather(*waiting) == ["value 1"] * 5
    assert counter.calls == 1


async def test_expired_value_is_computed_again() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=0)
    counter = Counter()
    counter.gate.set()
    assert [await cache.get(counter.compute) for _ in range(3)] == ["value 1", "value 2", "value 3"]
