"""One delivery attempt's outcome and what follows from it, for every channel. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"  # permanent, or the schedule is used up
    GONE = "gone"  # 410: the receiver wants no more; the endpoint is disabled


@dataclass(frozen=True)
class Outcome:
    """How one attempt went, whatever the channel."""

    ok: bool
    code: int | None = None  # the HTTP status or SMTP reply code; None when nothing answered
    error: str | None = None
    gone: bool = False
    permanent: bool = False  # another attempt cannot succeed (an SMTP 5xx)
    retry_after_s: float | None = None  # the receiver asked to wait at least this long
    response: str | None = None  # the start of the answer, for the delivery log


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    delay_s: float = 0.0  # for RETRY: how long until the next attempt


def judge(
    outcome: Outcome,
    attempts_made: int,
    schedule: tuple[float, ...],
    *,
    max_retry_after_s: float = 86400.0,
    jitter: float = 0.0,
) -> Judgement:
    """What to do after attempt number ``attempts_made`` ended with ``outcome``.

    ``schedule[i]`` is the wait before attempt ``i + 2``; ``jitter`` (0 to 1, drawn by the
    caller) stretches a wait by up to 20 % so deliveries to a recovering receiver spread out.
    A receiver's ``Retry-After`` is honoured up to ``max_retry_after_s``, never shortening the
    schedule.
    """
    if outcome.ok:
        return Judgement(Verdict.DELIVERED)
    if outcome.gone:
        return Judgement(Verdict.GONE)
    if outcome.permanent or attempts_made > len(schedule):
        return Judgement(Verdict.FAILED)
    delay = schedule[attempts_made - 1] * (1 + 0.2 * jitter)
    if outcome.retry_after_s is not None:
        delay = max(delay, min(outcome.retry_after_s, max_retry_after_s))
    return Judgement(Verdict.RETRY, delay)
