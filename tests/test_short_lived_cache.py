"""The API's short-lived cache (tokens, reference data): one load per expired entry, however many
requests wait for it."""

from __future__ import annotations

import asyncio

import pytest

from api.deps import ShortLivedCache


class Loader:
    def __init__(self, value: object, delay: float = 0.05) -> None:
        self.value, self.delay, self.calls = value, delay, 0

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


async def test_concurrent_misses_share_one_load() -> None:
    cache, load = ShortLivedCache(), Loader("ada")

    results = await asyncio.gather(*(cache.get_or_load("t", load) for _ in range(20)))

    assert results == ["ada"] * 20
    assert load.calls == 1
    assert await cache.get_or_load("t", load) == "ada" and load.calls == 1  # now from the cache


async def test_an_expired_entry_is_loaded_again() -> None:
    cache, load = ShortLivedCache(ttl=0.01), Loader("ada", delay=0)

    await cache.get_or_load("t", load)
    await asyncio.sleep(0.02)
    await cache.get_or_load("t", load)

    assert load.calls == 2


async def test_none_is_returned_but_not_kept() -> None:
    cache, load = ShortLivedCache(), Loader(None, delay=0)

    assert await cache.get_or_load("unknown", load) is None
    assert await cache.get_or_load("unknown", load) is None
    assert load.calls == 2


async def test_a_cancelled_waiter_does_not_cancel_the_load_the_others_wait_on() -> None:
    cache, load = ShortLivedCache(), Loader("ada", delay=0.1)

    first = asyncio.ensure_future(cache.get_or_load("t", load))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(cache.get_or_load("t", load))
    await asyncio.sleep(0.01)
    first.cancel()

    assert await second == "ada"
    assert first.cancelled() and load.calls == 1


async def test_a_failed_load_reaches_every_waiter_and_the_next_call_tries_again() -> None:
    cache, failing = ShortLivedCache(), Loader(ConnectionError("database down"))

    outcomes = await asyncio.gather(*(cache.get_or_load("t", failing) for _ in range(3)),
                                    return_exceptions=True)

    assert all(isinstance(o, ConnectionError) for o in outcomes) and failing.calls == 1
    with pytest.raises(ConnectionError):
        await cache.get_or_load("t", failing)
    assert failing.calls == 2


async def test_a_forgotten_entry_is_loaded_again() -> None:
    cache, load = ShortLivedCache(), Loader("v1", delay=0)

    await cache.get_or_load("case_type", load)
    cache.forget("case_type")
    cache.forget("never-cached")
    await cache.get_or_load("case_type", load)

    assert load.calls == 2
