"""Every payment operation, written once for the saga's commands, REST and webhooks.

Each method runs inside the caller's transaction with the payment row locked (``FOR UPDATE``),
so concurrent commands, webhooks and staff actions on one payment take turns. Provider calls
carry keys derived from the booking and the operation, so a retry after a lost answer gets the
provider's first result and never moves money twice. Replies and events go through the outbox
in the same transaction as the state change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import ContractMessage
from contracts.payment import (
    AuthorizePayment,
    LatePaymentReceived,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentDeclined,
    PaymentRefundedEvent,
)
from contracts.topics import BOOKING_SAGA_REPLIES, PAYMENT_EVENTS
from messaging import failpoints
from messaging.outbox import Outbox
from payment.adapters import repository
from payment.adapters.providers import BANK_TRANSFER, Providers
from payment.adapters.repository import PaymentRow
from payment.domain.payments import (
    IdempotencyKeyReused,
    NotVerifiable,
    Outcome,
    PaymentStatus,
    check_refund,
    needs_void,
    next_status_on_capture,
    transition,
)

S = PaymentStatus
_STATUS_OF = {
    Outcome.SUCCEEDED: S.AUTHORIZED,
    Outcome.REQUIRES_ACTION: S.REQUIRES_ACTION,
    Outcome.DECLINED: S.FAILED,
}


AuthorizeAnswer = PaymentAuthorized | PaymentDeclined | PaymentActionRequired


@dataclass(frozen=True)
class RefundMade:
    refund_id: str
    amount: Decimal
    refunded_total: Decimal
    created: bool


@dataclass(frozen=True)
class PaymentDesk:
    providers: Providers
    outbox: Outbox
    action_deadline: timedelta

    async def _reply(
        self, conn: AsyncConnection, booking_id: str, message: ContractMessage
    ) -> None:
        await self.outbox.add(conn, topic=BOOKING_SAGA_REPLIES, key=booking_id, message=message)

    @staticmethod
    async def _fresh(conn: AsyncConnection, payment_id: str) -> PaymentRow:
        fresh = await repository.by_id(conn, payment_id)
        assert fresh is not None
        return fresh

    async def _answer_saga(self, conn: AsyncConnection, p: PaymentRow) -> None:
        """Send the saga's authorize step the answer the payment now has."""
        await self._reply(
            conn, p.booking_id, self.authorize_answer(p, p.saga_step or "authorize_payment")
        )

    @staticmethod
    def authorize_answer(p: PaymentRow, step: str) -> AuthorizeAnswer:
        """The saga's answer for a payment as it stands: waiting for the guest, or final."""
        if p.status in (S.AUTHORIZED, S.CAPTURED):
            return PaymentAuthorized(
                booking_id=p.booking_id,
                step=step,
                payment_id=p.id,
                amount=p.money(),
                verified_by=p.verified_by,
                verified_at=p.verified_at,
            )
        if p.status in (S.FAILED, S.CANCELED):
            return PaymentDeclined(
                booking_id=p.booking_id,
                step=step,
                payment_id=p.id,
                reason=p.decline_code or p.status.value,
            )
        assert p.pay_by is not None, "a payment waiting for the guest has a deadline"
        return PaymentActionRequired(
            booking_id=p.booking_id,
            step=step,
            payment_id=p.id,
            pay_by=p.pay_by,
            next_action=p.next_action,
        )

    async def authorize(
        self, conn: AsyncConnection, cmd: AuthorizePayment, now: datetime
    ) -> AuthorizeAnswer:
        """One payment per payment key: a repeated command answers from the payment that exists.
        A key another tenant's payment holds is refused, never answered from that payment."""
        p = await repository.by_key(conn, cmd.key)
        if p is not None and cmd.tenant_id is not None and p.tenant_id != cmd.tenant_id:
            return PaymentDeclined(
                booking_id=cmd.booking_id, step=cmd.step, payment_id="", reason="payment_key_taken"
            )
        if p is None:
            provider = self.providers.for_method(cmd.payment_method)
            if provider is None:
                return PaymentDeclined(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id="",
                    reason="payment_method_not_enabled",
                )
            result = await provider.authorize(
                payment_method=cmd.payment_method,
                amount=cmd.amount.amount,
                currency=cmd.amount.currency,
                idempotency_key=f"{cmd.key}:authorize",
            )
            status = _STATUS_OF[result.outcome]
            waits = status is S.REQUIRES_ACTION
            await conn.execute(
                text(
                    "INSERT INTO payments (id, tenant_id, booking_id, payment_key, amount, "
                    "currency, payment_method, provider, provider_ref, status, decline_code, "
                    "next_action, saga_step, pay_by) VALUES (:id, :t, :b, :k, :a, :c, :m, :p, "
                    ":ref, :s, :d, :n, :step, :pay_by)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "t": cmd.tenant_id,
                    "b": cmd.booking_id,
                    "k": cmd.key,
                    "a": cmd.amount.amount,
                    "c": cmd.amount.currency,
                    "m": cmd.payment_method,
                    "p": provider.name,
                    "ref": result.provider_ref,
                    "s": status.value,
                    "d": result.decline_code,
                    "n": result.next_action,
                    "step": cmd.step,
                    "pay_by": (cmd.pay_by or now + self.action_deadline) if waits else None,
                },
            )
            p = await repository.by_key(conn, cmd.key)
            assert p is not None
        return self.authorize_answer(p, cmd.step)

    async def capture(self, conn: AsyncConnection, p: PaymentRow) -> PaymentRow:
        """Capture an authorized payment; a captured one is left as it is."""
        target = next_status_on_capture(p.status)
        if p.status is not S.CAPTURED:
            await self.providers.named(p.provider).capture(
                provider_ref=p.provider_ref,
                amount=p.amount,
                idempotency_key=f"{p.payment_key}:capture",
            )
            await repository.update(conn, p.id, status=target, captured_amount=p.amount)
        return await self._fresh(conn, p.id)

    async def void(self, conn: AsyncConnection, p: PaymentRow, why: str = "voided") -> bool:
        """Release a payment that took no money; NotVoidable for a captured one."""
        if not needs_void(p.status):
            return False
        await self.providers.named(p.provider).void(
            provider_ref=p.provider_ref, idempotency_key=f"{p.payment_key}:void"
        )
        await repository.update(
            conn, p.id, status=transition(p.status, S.CANCELED), decline_code=why
        )
        return True

    async def refund(
        self,
        conn: AsyncConnection,
        p: PaymentRow,
        *,
        amount: Decimal,
        key: str,
        reason: str,
        requested_by: str | None,
    ) -> RefundMade:
        """Refund ``amount`` once per ``key``; never more than captured, in total."""
        existing = (
            await conn.execute(
                text(
                    "SELECT id::text, amount FROM refunds WHERE payment_id = CAST(:p AS uuid) "
                    "AND idempotency_key = :k"
                ),
                {"p": p.id, "k": key},
            )
        ).first()
        if existing is not None:
            if Decimal(existing.amount) != amount:
                raise IdempotencyKeyReused(f"refund key {key!r} was used for another amount")
            return RefundMade(existing.id, amount, p.refunded_amount, created=False)
        check_refund(p.status, p.captured_amount, p.refunded_amount, amount)
        result = await self.providers.named(p.provider).refund(
            provider_ref=p.provider_ref,
            amount=amount,
            idempotency_key=f"{p.payment_key}:refund:{key}",
        )
        refund_id = str(uuid.uuid4())
        await conn.execute(
            text(
                "INSERT INTO refunds (id, payment_id, idempotency_key, amount, reason, "
                "requested_by, provider_ref) VALUES (:id, :p, :k, :a, :r, :by, :ref)"
            ),
            {
                "id": refund_id,
                "p": p.id,
                "k": key,
                "a": amount,
                "r": reason,
                "by": requested_by,
                "ref": result.provider_ref,
            },
        )
        total = p.refunded_amount + amount
        await repository.update(conn, p.id, refunded_amount=total)
        await self.outbox.add(
            conn,
            topic=PAYMENT_EVENTS,
            key=p.booking_id,
            message=PaymentRefundedEvent(
                booking_id=p.booking_id,
                payment_id=p.id,
                amount=p.money(amount),
                refund_id=refund_id,
                refunded_total=p.money(total),
                tenant_id=p.tenant_id,
            ),
        )
        return RefundMade(refund_id, amount, total, created=True)

    async def complete_action(
        self, conn: AsyncConnection, provider: str, ref: str, succeeded: bool
    ) -> PaymentRow | None:
        """The guest finished (or failed) 3-D Secure: answer the saga. Only a payment still
        waiting moves; a late or repeated completion changes nothing."""
        p = await repository.by_provider_ref(conn, provider, ref)
        if p is None or p.status is not S.REQUIRES_ACTION:
            return p
        if succeeded:
            await repository.update(conn, p.id, status=S.AUTHORIZED, next_action=None)
        else:
            await repository.update(
                conn, p.id, status=S.FAILED, decline_code="authentication_failed", next_action=None
            )
        fresh = await self._fresh(conn, p.id)
        await self._answer_saga(conn, fresh)
        return fresh

    async def verify_transfer(
        self, conn: AsyncConnection, p: PaymentRow, *, by: str, now: datetime
    ) -> PaymentRow:
        """Staff saw the transfer arrive: the money is captured. In time, the saga hears
        PaymentAuthorized; after the deadline canceled the payment, a LatePaymentReceived event
        lets the saga re-acquire capacity or refund. Verifying twice changes nothing."""
        if p.provider != BANK_TRANSFER:
            raise NotVerifiable("only bank transfers are verified by staff")
        if p.status is S.CAPTURED:
            return p
        late = p.status is S.CANCELED
        await self.providers.named(p.provider).capture(
            provider_ref=p.provider_ref, amount=p.amount, idempotency_key=f"{p.payment_key}:capture"
        )
        await repository.update(
            conn,
            p.id,
            status=transition(p.status, S.CAPTURED),
            captured_amount=p.amount,
            verified_at=now,
            verified_by=by,
            late=late,
            next_action=None,
        )
        fresh = await self._fresh(conn, p.id)
        if late:
            await self.outbox.add(
                conn,
                topic=PAYMENT_EVENTS,
                key=p.booking_id,
                message=LatePaymentReceived(
                    booking_id=p.booking_id,
                    payment_id=p.id,
                    amount=p.money(),
                    received_at=now,
                    tenant_id=p.tenant_id,
                ),
            )
        else:
            await self._answer_saga(conn, fresh)
        return fresh

    @staticmethod
    async def due_unpaid(conn: AsyncConnection, now: datetime, limit: int = 100) -> list[str]:
        """Payments whose guest did not act by ``pay_by`` (not locked), but not those an earlier
        sweep set aside with an error."""
        rows = await conn.execute(
            text(
                "SELECT id::text FROM payments WHERE status = 'requires_action' "
                "AND pay_by <= :now AND expiry_error IS NULL ORDER BY pay_by LIMIT :n"
            ),
            {"now": now, "n": limit},
        )
        return [r[0] for r in rows]

    async def expire_unpaid(self, conn: AsyncConnection, payment_id: str, now: datetime) -> bool:
        """Cancel one payment past ``pay_by`` if it still waits and no one else holds it; the
        saga hears PaymentDeclined(payment_deadline_passed). The provider's void is not called
        here (this transaction holds the payment's lock): the payment is marked
        ``void_pending`` and ``void_pending_payments`` finishes it, so a provider that hangs
        never holds a row lock."""
        row = (
            await conn.execute(
                text(
                    f"SELECT {repository.COLUMNS} FROM payments WHERE id = CAST(:id AS uuid) "
                    "AND status = 'requires_action' AND pay_by <= :now FOR UPDATE SKIP LOCKED"
                ),
                {"id": payment_id, "now": now},
            )
        ).first()
        if row is None:
            return False
        p = PaymentRow.of(row)
        await repository.update(
            conn,
            p.id,
            status=transition(p.status, S.CANCELED),
            decline_code="payment_deadline_passed",
            void_pending=True,
        )
        await self._answer_saga(conn, await self._fresh(conn, p.id))
        return True

    @staticmethod
    async def void_pending_payments(conn: AsyncConnection, limit: int = 100) -> list[PaymentRow]:
        rows = await conn.execute(
            text(
                f"SELECT {repository.COLUMNS} FROM payments WHERE void_pending AND status = 'canceled' "
                "AND expiry_error IS NULL ORDER BY updated_at LIMIT :n"
            ),
            {"n": limit},
        )
        return [PaymentRow.of(r) for r in rows]

    async def finish_void(self, conn: AsyncConnection, p: PaymentRow) -> bool:
        """The provider's void of a payment the expiry canceled (idempotent: a repeat after a
        crash gets the provider's first answer), then the mark cleared. No row lock is held
        during the call; the mark's update takes one only for itself."""
        await self.providers.named(p.provider).void(
            provider_ref=p.provider_ref, idempotency_key=f"{p.payment_key}:void"
        )
        failpoints.hit(failpoints.PROVIDER_AFTER_CALL, f"void:{p.booking_id}")
        await repository.update(conn, p.id, void_pending=False)
        return True

    @staticmethod
    async def set_expiry_aside(conn: AsyncConnection, payment_id: str, why: str) -> None:
        await repository.update(conn, payment_id, expiry_error=why)
