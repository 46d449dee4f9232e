"""ItemSweep: one transaction per item; a failing item rolls back alone and is parked after
three rounds; a transient failure ends the round without charging anyone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from messaging.errors import TransientError
from messaging.jobs import SWEEP_PARKED, ItemSweep


class FakeEngine:
    """Counts transactions; a transaction whose body raises is rolled back (recorded)."""

    def __init__(self) -> None:
        self.committed: list[Any] = []
        self.rolled_back = 0

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[list[Any]]:
        writes: list[Any] = []
        try:
            yield writes
        except BaseException:
            self.rolled_back += 1
            raise
        self.committed.extend(writes)


def a_sweep(bad: set[str], parked: list[tuple[str, str]]) -> ItemSweep[str]:
    async def work(conn: list[Any], item: str) -> bool:
        conn.append(f"did {item}")
        if item in bad:
            raise KeyError(f"cannot read {item}")
        return True

    async def park(conn: list[Any], item: str, exc: Exception) -> None:
        parked.append((item, type(exc).__name__))
        conn.append(f"parked {item}")

    return ItemSweep("test-sweep", key=str, work=work, park=park)


async def test_one_item_that_raises_rolls_back_alone_and_the_others_commit() -> None:
    engine, parked = FakeEngine(), []
    sweep = a_sweep({"b"}, parked)
    done = await sweep.run(engine, ["a", "b", "c"])  # type: ignore[arg-type]
    assert done == 2
    assert engine.committed == ["did a", "did c"] and engine.rolled_back == 1
    assert parked == []


async def test_an_item_failing_three_rounds_running_is_parked_with_its_error_and_counted() -> None:
    engine, parked = FakeEngine(), []
    sweep = a_sweep({"b"}, parked)
    before = SWEEP_PARKED.labels("test-sweep")._value.get()
    for _ in range(3):
        await sweep.run(engine, ["a", "b"])  # type: ignore[arg-type]
    assert parked == [("b", "KeyError")]
    assert "parked b" in engine.committed
    assert SWEEP_PARKED.labels("test-sweep")._value.get() - before == 1


async def test_a_success_between_failures_starts_the_count_again() -> None:
    engine, parked = FakeEngine(), []
    bad = {"b"}
    sweep = a_sweep(bad, parked)
    await sweep.run(engine, ["b"])  # type: ignore[arg-type]
    await sweep.run(engine, ["b"])  # type: ignore[arg-type]
    bad.clear()
    await sweep.run(engine, ["b"])  # type: ignore[arg-type]
    bad.add("b")
    await sweep.run(engine, ["b"])  # type: ignore[arg-type]
    await sweep.run(engine, ["b"])  # type: ignore[arg-type]
    assert parked == []


async def test_a_transient_failure_ends_the_round_and_charges_no_item() -> None:
    engine, parked = FakeEngine(), []

    async def work(conn: list[Any], item: str) -> bool:
        raise TransientError("database unavailable")

    async def park(conn: list[Any], item: str, exc: Exception) -> None:
        parked.append((item, type(exc).__name__))

    sweep = ItemSweep("test-sweep-2", key=str, work=work, park=park)
    for _ in range(5):
        with pytest.raises(TransientError):
            await sweep.run(engine, ["a", "b"])  # type: ignore[arg-type]
    assert parked == []
