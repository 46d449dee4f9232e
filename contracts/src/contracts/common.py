"""Value objects shared by several message families."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import Command


class Party(BaseModel):
    """Who is coming. Infants usually travel free but still count for some resources."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)

    @property
    def size(self) -> int:
        return self.adults + self.children + self.infants


class StayPeriod(BaseModel):
    """Nights from ``check_in`` (inclusive) to ``check_out`` (exclusive)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    check_in: date
    check_out: date

    @model_validator(mode="after")
    def _ordered(self) -> StayPeriod:
        if self.check_out <= self.check_in:
            raise ValueError("check_out must be after check_in")
        return self

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


class TimeWindow(BaseModel):
    """A timeslot booking's time: aware start and end, and the resource's IANA timezone."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    starts_at: datetime
    ends_at: datetime
    timezone: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at carry a UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Contact(BaseModel):
    """Whom to tell about a booking: the guest's name, email and preferred language.

    Personal data: it travels on ``booking.events`` for the notifier; an analytics consumer
    should not keep it.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="BCP 47 language tag, e.g. 'pt-PT'; absent means the platform's default.",
    )


class SagaCommand(Command):
    """A command sent by the booking saga. ``step`` is echoed back in the reply.

    ``tenant_id`` (added within v1, optional in the schema so that older messages still read):
    the booking's tenant. Every participant scopes what the command reads and writes by it, so
    a command naming another tenant's resource, claim, quote or payment finds nothing. The
    orchestrator sets it on every command it sends.
    """

    booking_id: str
    step: str
    tenant_id: str | None = None
