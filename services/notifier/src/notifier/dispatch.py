"""The dispatcher: sends queued notifications on their schedule, which lives in Postgres.

A round claims due notifications (``FOR UPDATE SKIP LOCKED``, so any number of worker replicas
share the work) and takes a lease on each: the attempt is counted, ``next_attempt_at`` moves
past the call's timeout and a lease token is written, all committed before anything is sent.
Then it sends, outside any transaction, and records the outcome under the same token:
delivered, failed, or the next attempt's time from the schedule. A process killed mid-call
leaves the lease to run out; the notification is then due again and goes out with the same
``webhook-id`` (receivers deduplicate by it). A notification never goes out while an earlier
one with its order key (one booking, one endpoint or mailbox) is unfinished, so a booking's
events reach each receiver in order, however retries interleave.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine

from messaging.jobs import periodic
from notifier import emails
from notifier.adapters import repository
from notifier.adapters.http import read_some
from notifier.domain import webhooks
from notifier.domain.delivery import Judgement, Outcome, Verdict, judge
from notifier.domain.notifications import CHANNEL_EMAIL, CHANNEL_WEBHOOK
from notifier.domain.targets import TargetRefused
from notifier.settings import NotifierSettings
from service_kit.audit import Actor

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "notifier_delivery_attempts_total",
    "Delivery attempts by channel and verdict",
    ["channel", "verdict"],
)
ATTEMPT_SECONDS = Histogram(
    "notifier_delivery_attempt_seconds", "Time of one delivery attempt", ["channel"]
)
LEASE_MARGIN_S = 30.0

DISPATCHER = Actor("notifier-dispatcher")  # who disables an endpoint that answers 410


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> Outcome: ...


CLAIM = """
WITH due AS (
    SELECT n.id FROM notifications n
    WHERE n.status = 'pending' AND n.next_attempt_at <= now()
      AND NOT EXISTS (
          SELECT 1 FROM notifications e
          WHERE e.status = 'pending' AND e.order_key = n.order_key AND e.seq < n.seq)
    ORDER BY n.next_attempt_at, n.seq
    LIMIT :n
    FOR UPDATE OF n SKIP LOCKED)
UPDATE notifications t
SET attempts = t.attempts + 1, lease_token = :token, last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => :lease), updated_at = now()
FROM due WHERE t.id = due.id
RETURNING t.id::text, t.channel, t.endpoint_id::text, t.payload, t.attempts
"""

ENDPOINT = """
SELECT url, status, secret, previous_secret, previous_secret_expires_at
FROM webhook_endpoints WHERE id = :id
"""


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: NotifierSettings,
        mailer: Mailer,
        http: httpx.AsyncClient,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.http = http
        self.box = settings.secret_box
        self._lease_s = max(settings.webhook_timeout_s, settings.smtp_timeout_s) + LEASE_MARGIN_S
        self._slots = asyncio.Semaphore(settings.dispatch_concurrency)

    async def round(self) -> bool:
        """One round: claim what is due and send it. True when there may be more to do now."""
        token = str(uuid.uuid4())
        async with self.engine.begin() as conn:
            claimed = list(
                await conn.execute(
                    text(CLAIM),
                    {
                        "n": self.settings.dispatch_batch_size,
                        "token": token,
                        "lease": self._lease_s,
                    },
                )
            )
        if not claimed:
            return False
        await asyncio.gather(*(self._one(row, token) for row in claimed))
        # A delivery may have freed the next one of its order key: look again at once.
        return True

    async def _one(self, row: Row[Any], token: str) -> None:
        async with self._slots:
            started = datetime.now(UTC)
            clock = time.monotonic()
            try:
                if row.channel == CHANNEL_EMAIL:
                    outcome = await self._send_email(row)
                elif row.channel == CHANNEL_WEBHOOK:
                    outcome = await self._send_webhook(row)
                else:
                    outcome = Outcome(
                        ok=False, error=f"unknown channel {row.channel}", permanent=True
                    )
            except Exception as exc:  # a bug must not lose the notification: log and retry
                log.exception("delivery %s failed unexpectedly", row.id)
                outcome = Outcome(ok=False, error=f"{type(exc).__name__}")
            elapsed = time.monotonic() - clock
            ATTEMPT_SECONDS.labels(row.channel).observe(elapsed)
            verdict = judge(
                outcome,
                row.attempts,
                self.settings.schedule,
                max_retry_after_s=self.settings.webhook_max_retry_after_s,
                jitter=random.random(),
            )
            ATTEMPTS.labels(row.channel, verdict.verdict.value).inc()
            await self._record(row, token, started, elapsed, outcome, verdict)

    # -- channels -------------------------------------------------------------------------

    async def _send_email(self, row: Row[Any]) -> Outcome:
        msg = emails.message(
            row.payload, sender=self.settings.email_from, message_id=f"<{row.id}@booking-platform>"
        )
        return await self.mailer.send(msg)

    async def _send_webhook(self, row: Row[Any]) -> Outcome:
        async with self.engine.connect() as conn:
            endpoint = (await conn.execute(text(ENDPOINT), {"id": row.endpoint_id})).first()
        if endpoint is None or endpoint.status != "active":
            return Outcome(ok=False, error="endpoint disabled", permanent=True)
        now = datetime.now(UTC)
        box = self.box
        secrets = [box.open(endpoint.secret)]
        if endpoint.previous_secret and (
            endpoint.previous_secret_expires_at is None or endpoint.previous_secret_expires_at > now
        ):
            secrets.append(box.open(endpoint.previous_secret))
        body = row.payload["body"].encode()
        headers = webhooks.headers(secrets, webhooks.webhook_id(row.id), int(now.timestamp()), body)
        try:
            async with self.http.stream(
                "POST", endpoint.url, content=body, headers=headers
            ) as resp:
                answer = await read_some(resp)
                return webhooks.http_outcome(
                    resp.status_code, resp.headers.get("retry-after"), datetime.now(UTC), answer
                )
        except TargetRefused as exc:
            return Outcome(ok=False, error=str(exc), permanent=True)
        except httpx.TimeoutException:
            return Outcome(ok=False, error="timed out")
        except httpx.HTTPError as exc:
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])

    # -- bookkeeping ----------------------------------------------------------------------

    async def _record(
        self,
        row: Row[Any],
        token: str,
        started: datetime,
        elapsed: float,
        outcome: Outcome,
        judgement: Judgement,
    ) -> None:
        verdict = judgement.verdict
        status = {
            Verdict.DELIVERED: "delivered",
            Verdict.RETRY: "pending",
            Verdict.FAILED: "failed",
            Verdict.GONE: "failed",
        }[verdict]
        async with self.engine.begin() as conn:
            updated = await conn.execute(
                text(
                    "UPDATE notifications SET status = :status, lease_token = NULL, "
                    "last_code = :code, last_error = :error, updated_at = now(), "
                    "delivered_at = CASE WHEN :status = 'delivered' THEN now() END, "
                    "next_attempt_at = CASE WHEN :status = 'pending' "
                    "  THEN now() + make_interval(secs => :delay) END "
                    "WHERE id = :id AND lease_token = :token RETURNING id"
                ),
                {
                    "status": status,
                    "code": outcome.code,
                    "error": outcome.error,
                    "delay": judgement.delay_s,
                    "id": row.id,
                    "token": token,
                },
            )
            if updated.first() is None:
                # The lease ran out and another round took it; its record will be the one.
                log.warning("delivery %s: lease lost before the outcome was recorded", row.id)
            await conn.execute(
                text(
                    "INSERT INTO delivery_attempts (notification_id, attempt, started_at, "
                    "duration_ms, code, error, response, verdict) VALUES (:id, :attempt, "
                    ":started, :ms, :code, :error, :response, :verdict)"
                ),
                {
                    "id": row.id,
                    "attempt": row.attempts,
                    "started": started,
                    "ms": round(elapsed * 1000),
                    "code": outcome.code,
                    "error": outcome.error,
                    "response": outcome.response,
                    "verdict": verdict.value,
                },
            )
            if verdict is Verdict.GONE and row.endpoint_id:
                await repository.disable_endpoint(
                    conn, row.endpoint_id, "the receiver answered 410 Gone", DISPATCHER
                )


def job(dispatcher: Dispatcher, interval_s: float) -> Callable[[], Awaitable[None]]:
    return periodic("notification-dispatch", interval_s, dispatcher.round)
