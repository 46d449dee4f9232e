"""Every email template renders in every language from the events that cause it; HTML escapes
what guests typed, text does not; locales fall back; the booking view follows its events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.base import Money
from contracts.booking import (
    BookingCancelled,
    BookingCheckedIn,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingRefunded,
    BookingRejected,
    BookingStatusChanged,
    BookingUpdated,
    WaitlistOffered,
)
from contracts.common import Contact, Party, StayPeriod, TimeWindow
from notifier import emails
from notifier.domain.notifications import apply, email_for

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
COMMON = {"booking_id": "b-1", "tenant_id": "t", "reference": "BK-7", "occurred_at": NOW}


def created(**kw: object) -> BookingCreated:
    values: dict = {
        **COMMON,
        "booking_version": 1,
        "status": "pending",
        "resource_id": "r-1",
        "period": StayPeriod(check_in=date(2027, 1, 10), check_out=date(2027, 1, 12)),
        "party": Party(adults=2, children=1),
        "contact": Contact(name="Zé <script>", email="ze@example.com", locale="pt-BR"),
        "resource_name": "Casa & Mar",
        "timezone": "Europe/Lisbon",
    }
    return BookingCreated(**(values | kw))


EUR = Money.of(Decimal("450"), "EUR")
CAUSES = [
    BookingConfirmed(
        **COMMON,
        booking_version=2,
        status="confirmed",
        total=EUR,
        payment_id="p",
        reservation_id="r",
        previous_status="pending",
    ),
    BookingUpdated(
        **COMMON,
        booking_version=3,
        status="confirmed",
        changed=("period",),
        period=StayPeriod(check_in=date(2027, 1, 11), check_out=date(2027, 1, 14)),
    ),
    BookingCancelled(
        **COMMON,
        booking_version=4,
        status="cancelled",
        previous_status="confirmed",
        reason="plans <changed>",
    ),
    BookingRefunded(**COMMON, booking_version=5, status="refunded", refund=EUR),
    BookingRejected(**COMMON, booking_version=2, status="rejected", reason="payment_declined"),
    BookingExpired(**COMMON, booking_version=3, status="expired"),
    BookingStatusChanged(
        **COMMON,
        booking_version=2,
        status="awaiting_payment",
        payment_deadline=NOW + timedelta(hours=1),
    ),
    WaitlistOffered(
        entry_id="w-1",
        tenant_id="t",
        resource_id="r-1",
        occurred_at=NOW,
        hold_id="h",
        expires_at=NOW + timedelta(hours=24),
        guest_id="g",
        contact_email="ze@example.com",
        contact_name="Zé",
    ),
]


@pytest.mark.parametrize("locale", ["en", "pt-PT", "pt-BR", "de-DE", None])
@pytest.mark.parametrize("event", CAUSES, ids=lambda e: e.type)
def test_every_email_renders_in_every_language(event: object, locale: str | None) -> None:
    view = apply(None, created())
    if hasattr(event, "booking_version") and event.booking_version > 1:  # type: ignore[attr-defined]
        view = apply(view, event)  # type: ignore[arg-type]
    intent = email_for(event)  # type: ignore[arg-type]
    assert intent is not None
    mail = emails.render(
        intent,
        event,
        view if hasattr(event, "booking_id") else None,  # type: ignore[arg-type]
        to="ze@example.com",
        to_name="Zé",
        requested_locale=locale,
        default_locale="en",
        now=NOW,
    )
    assert mail.language == ("pt" if locale and locale.startswith("pt") else "en")
    assert mail.subject and "\n" not in mail.subject
    assert "<script>" not in mail.html and "{{" not in mail.text + mail.html
    if hasattr(event, "booking_id"):
        assert "Zé <script>" in mail.text  # plain text is not escaped
        assert "BK-7" in mail.subject or "BK-7" in mail.text
    assert (mail.calendar is not None) == (intent.calendar is not None)


def test_money_and_dates_follow_the_full_locale() -> None:
    view = apply(apply(None, created()), CAUSES[0])  # type: ignore[arg-type]
    intent = email_for(CAUSES[0])
    assert intent is not None
    br = emails.render(
        intent,
        CAUSES[0],
        view,
        to="z@x.io",
        to_name=None,
        requested_locale="pt-BR",
        default_locale="en",
        now=NOW,
    )
    us = emails.render(
        intent,
        CAUSES[0],
        view,
        to="z@x.io",
        to_name=None,
        requested_locale="en-US",
        default_locale="en",
        now=NOW,
    )
    assert "€\xa0450,00" in br.text and "domingo, 10 de janeiro de 2027" in br.text
    assert "€450.00" in us.text and "Sunday, January 10, 2027" in us.text


def test_a_timeslot_shows_local_times_and_its_calendar_entry_is_timed() -> None:
    window = TimeWindow(
        starts_at=datetime(2027, 3, 28, 9, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 10, 0, tzinfo=UTC),
        timezone="Europe/Lisbon",
    )
    view = apply(
        None,
        created(
            window=window,
            period=StayPeriod(check_in=date(2027, 3, 28), check_out=date(2027, 3, 29)),
        ),
    )
    view = apply(view, CAUSES[0])  # type: ignore[arg-type]
    intent = email_for(CAUSES[0])
    assert intent is not None
    mail = emails.render(
        intent,
        CAUSES[0],
        view,
        to="z@x.io",
        to_name=None,
        requested_locale="en",
        default_locale="en",
        now=NOW,
    )
    assert "10:00" in mail.text  # 09:00 UTC is 10:00 in Lisbon in summer time
    assert mail.calendar and "DTSTART:20270328T090000Z" in mail.calendar


def test_which_events_email_and_which_carry_a_calendar_entry() -> None:
    details = BookingUpdated(**COMMON, booking_version=3, status="confirmed", changed=("guest",))
    assert email_for(details) is None  # new contact details are not news to the guest
    assert email_for(BookingCheckedIn(**COMMON, booking_version=3, status="checked_in")) is None
    early = BookingCancelled(
        **COMMON, booking_version=2, status="cancelled", previous_status="awaiting_payment"
    )
    assert email_for(early) is not None and email_for(early).calendar is None  # type: ignore[union-attr]
    assert email_for(CAUSES[2]).calendar == "cancel"  # type: ignore[union-attr]


def test_the_view_ignores_redeliveries_and_keeps_what_later_events_leave_out() -> None:
    view = apply(None, created())
    confirmed = apply(view, CAUSES[0])  # type: ignore[arg-type]
    assert apply(confirmed, created()) is confirmed
    cancelled = apply(confirmed, CAUSES[2])  # type: ignore[arg-type]
    assert cancelled.contact == view.contact and cancelled.total_amount == EUR.amount
    assert cancelled.status == "cancelled" and cancelled.version == 4


def test_an_older_event_redriven_late_fills_what_the_view_lacks_and_never_takes_it_back() -> None:
    """booking.created was dead-lettered and redriven after booking.confirmed was applied: the
    view keeps the confirmed status and version, and gains the guest's contact (the handler
    then queues the redriven event's own notifications: its webhooks)."""
    confirmed_first = apply(None, CAUSES[0])  # type: ignore[arg-type]
    assert confirmed_first.contact is None
    filled = apply(confirmed_first, created())
    assert (filled.status, filled.version) == (confirmed_first.status, confirmed_first.version)
    assert filled.contact == apply(None, created()).contact
