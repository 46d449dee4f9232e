"""Value objects shared by several message families."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import Command


class Party(BaseModel):
    """Who is coming. Infants usually travel free but still count for some resources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)

    @property
    def size(self) -> int:
        return self.adults + self.children + self.infants


class StayPeriod(BaseModel):
    """Nights from ``check_in`` (inclusive) to ``check_out`` (exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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


class SagaCommand(Command):
    """A command sent by the booking saga. ``step`` is echoed back in the reply."""

    booking_id: str
    step: str
