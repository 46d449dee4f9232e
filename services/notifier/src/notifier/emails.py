"""Emails to guests: rendered from templates per event type and language, plain text and HTML,
with an iCalendar entry where the booking enters, changes in or leaves the guest's calendar.

Templates live in ``notifier/templates/email/<language>/<name>.{txt,html}.j2`` (Jinja2; HTML
is autoescaped, text is not). The guest's locale (a BCP 47 tag from the booking) picks the
language, falling back to ``NOTIFIER_DEFAULT_LOCALE``; dates, times and money are formatted by
Babel for the full locale (``pt-BR`` gets Portuguese templates and Brazilian formats).
An email is rendered once, when its event is consumed, and stored: every retry sends the same
message (same ``Message-ID``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import babel
import babel.dates
import babel.numbers
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from contracts.base import Event, Money
from contracts.booking import (
    BookingCancelled,
    BookingRefunded,
    BookingRejected,
    BookingStatusChanged,
    WaitlistOffered,
)
from notifier.domain import ical
from notifier.domain.notifications import BookingView, EmailIntent

LANGUAGES = ("en", "pt")

# Why a booking was rejected, as the guest reads it.
REASONS: dict[str, dict[str, str]] = {
    "en": {
        "capacity_unavailable": "the dates are no longer available",
        "not_bookable": "the booking does not meet the resource's conditions",
        "payment_declined": "the payment was declined",
        "pricing_failed": "no price could be given",
        "": "an unexpected problem",
    },
    "pt": {
        "capacity_unavailable": "as datas já não estão disponíveis",
        "not_bookable": "a reserva não cumpre as condições do recurso",
        "payment_declined": "o pagamento foi recusado",
        "pricing_failed": "não foi possível calcular o preço",
        "": "um problema inesperado",
    },
}
SUMMARIES = {"en": "Booking {reference}", "pt": "Reserva {reference}"}


@dataclass(frozen=True)
class RenderedEmail:
    to: str
    to_name: str | None
    subject: str
    text: str
    html: str
    language: str
    locale: str
    calendar: str | None = None  # the .ics text
    calendar_method: str | None = None  # REQUEST | CANCEL
    filename: str = "booking.ics"

    def payload(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def negotiate(requested: str | None, default: str) -> babel.Locale:
    """The Babel locale for a BCP 47 tag, or the default when it is absent or unknown."""
    for tag in (requested, default, "en"):
        if not tag:
            continue
        try:
            return babel.Locale.parse(tag.replace("-", "_"))
        except (ValueError, babel.UnknownLocaleError):
            continue
    raise AssertionError("unreachable: 'en' always parses")


def _locale(ctx: Context) -> babel.Locale:
    locale: babel.Locale = ctx["locale"]
    return locale


@pass_context
def _day(ctx: Context, value: date) -> str:
    return babel.dates.format_date(value, "full", locale=_locale(ctx))


@pass_context
def _moment(ctx: Context, value: datetime, zone: str) -> str:
    return babel.dates.format_datetime(value, "medium", tzinfo=ZoneInfo(zone), locale=_locale(ctx))


@pass_context
def _clock(ctx: Context, value: datetime, zone: str) -> str:
    return babel.dates.format_time(value, "short", tzinfo=ZoneInfo(zone), locale=_locale(ctx))


@pass_context
def _money(ctx: Context, value: Money) -> str:
    return babel.numbers.format_currency(value.amount, value.currency, locale=_locale(ctx))


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("notifier", "templates/email"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters |= {"day": _day, "moment": _moment, "clock": _clock, "money": _money}
    return env


def _context(event: Event, view: BookingView | None, language: str) -> dict[str, Any]:
    contact = (view.contact if view else None) or {}
    zone = (view.timezone if view else None) or "UTC"
    ctx: dict[str, Any] = {
        "guest_name": contact.get("name") or getattr(event, "contact_name", None) or "",
        "reference": (view.reference if view else None) or "",
        "resource": (view.resource_name if view else None) or "",
        "zone": zone,
        "stay": None,
        "slot": None,
        "party_size": view.party_size if view else None,
        "total": (
            Money(amount=view.total_amount, currency=view.currency)
            if view and view.total_amount is not None and view.currency
            else None
        ),
        "refund": event.refund if isinstance(event, BookingRefunded) else None,
        "reason": event.reason if isinstance(event, BookingCancelled) else None,
        "reason_text": "",
        "payment_deadline": (
            event.payment_deadline if isinstance(event, BookingStatusChanged) else None
        ),
        "offer_expires_at": event.expires_at if isinstance(event, WaitlistOffered) else None,
    }
    if isinstance(event, BookingRejected):
        reasons = REASONS[language]
        ctx["reason_text"] = reasons.get(event.reason, reasons[""])
    if view is not None and view.check_in and view.check_out:
        if view.is_slot and view.starts_at and view.ends_at:
            ctx["slot"] = {"starts_at": view.starts_at, "ends_at": view.ends_at, "timezone": zone}
        else:
            ctx["stay"] = {
                "check_in": view.check_in,
                "check_out": view.check_out,
                "nights": (view.check_out - view.check_in).days,
            }
    return ctx


def render(
    intent: EmailIntent,
    event: Event,
    view: BookingView | None,
    *,
    to: str,
    to_name: str | None,
    requested_locale: str | None,
    default_locale: str,
    organizer: str | None = None,
    now: datetime | None = None,
) -> RenderedEmail:
    locale = negotiate(requested_locale, default_locale)
    language = locale.language if locale.language in LANGUAGES else "en"
    env = environment()
    values = {**_context(event, view, language), "locale": locale, "language": language}
    text_template = env.get_template(f"{language}/{intent.template}.txt.j2")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(values)))
    calendar = None
    if intent.calendar and view is not None and view.check_in and view.check_out:
        calendar = _calendar(intent, view, language, to, to_name, organizer, now)
    return RenderedEmail(
        to=to,
        to_name=to_name,
        subject=" ".join(subject.split()),
        text=text_template.render(values),
        html=env.get_template(f"{language}/{intent.template}.html.j2").render(values),
        language=language,
        locale=str(locale),
        calendar=calendar,
        calendar_method=("CANCEL" if intent.calendar == "cancel" else "REQUEST")
        if calendar
        else None,
        filename=f"booking-{view.reference or view.booking_id}.ics" if view else "booking.ics",
    )


def _calendar(
    intent: EmailIntent,
    view: BookingView,
    language: str,
    to: str,
    to_name: str | None,
    organizer: str | None,
    now: datetime | None,
) -> str:
    assert view.check_in is not None and view.check_out is not None
    start: date | datetime = view.check_in
    end: date | datetime = view.check_out
    if view.is_slot and view.starts_at and view.ends_at:
        start, end = view.starts_at, view.ends_at
    reference = view.reference or view.booking_id
    return ical.render(
        ical.CalendarEvent(
            uid=f"{view.booking_id}@booking-platform",
            sequence=view.version,
            summary=view.resource_name or SUMMARIES[language].format(reference=reference),
            description=SUMMARIES[language].format(reference=reference),
            start=start,
            end=end,
            stamp=now or datetime.now(UTC),
            organizer_email=organizer,
            attendee_email=to,
            attendee_name=to_name,
            cancelled=intent.calendar == "cancel",
        )
    )


def message(payload: dict[str, Any], *, sender: str, message_id: str) -> EmailMessage:
    """The MIME message of a stored email: text and HTML alternatives, and the calendar entry
    both inline (``text/calendar; method=...``, which calendar clients act on) and as a file."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((payload.get("to_name") or "", payload["to"]))
    msg["Subject"] = payload["subject"]
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg.set_content(payload["text"])
    msg.add_alternative(payload["html"], subtype="html")
    if payload.get("calendar"):
        method = payload.get("calendar_method") or "REQUEST"
        msg.add_attachment(
            payload["calendar"].encode(),
            maintype="text",
            subtype="calendar",
            filename=payload.get("filename") or "booking.ics",
            params={"method": method, "charset": "utf-8"},
        )
    # After the body: setting content clears every Content-* header.
    msg["Content-Language"] = payload.get("language") or "en"
    return msg
