from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from booking.adapters.orchestrator import Timing
from service_kit.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "booking"
    default_port: ClassVar[int] = 8000

    inventory_url: str = "http://127.0.0.1:8001"
    # A step with no reply is looked at after step_timeout_s (and again, while its command
    # waits unconsumed); resent (up to step_max_attempts sends) only when its participant
    # consumed it; failed at step_deadline_s, lag or not.
    step_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    step_max_attempts: int = Field(default=3, ge=1, le=20)
    step_deadline_s: float = Field(default=600.0, gt=0, le=7 * 24 * 3600)
    # Admission control: POST /bookings answers 503 while this many sagas are in flight
    # (running or compensating, not waiting for the guest); 0 turns it off.
    max_in_flight_sagas: int = Field(default=2000, ge=0)
    # ... and while this many of them have been in flight for longer than
    # admission_late_after_s (the platform is falling behind what it is offered); 0: off.
    admission_max_late_sagas: int = Field(default=100, ge=0)
    admission_late_after_s: float = Field(default=10.0, gt=0, le=3600)
    deadline_scan_interval_s: float = Field(default=1.0, gt=0, le=60)
    idempotency_ttl_s: float = Field(default=24 * 3600, ge=60)
    max_prefer_wait_s: float = Field(default=30.0, ge=0, le=120)
    # How many requests of one web process may wait (Prefer: wait) at once; more answer at once.
    max_prefer_waiters: int = Field(default=200, ge=1, le=10_000)
    # An unpaid booking (bank transfer, 3-D Secure) expires this long after it was made.
    payment_deadline_s: float = Field(default=30 * 60, ge=1, le=7 * 24 * 3600)
    # How long a waitlist offer (and the hold behind it) stays open.
    waitlist_offer_s: float = Field(default=24 * 3600, ge=10, le=7 * 24 * 3600)
    # Per guest (staff are not limited): unpaid bookings (bank transfers not yet paid, each
    # holding capacity until its deadline) and waiting waitlist entries.
    guest_max_unpaid_bookings: int = Field(default=3, ge=1, le=1000)
    guest_max_waitlist_entries: int = Field(default=10, ge=1, le=1000)

    @property
    def claim_hold_s(self) -> int:
        """How long a saga's new claim is held unless confirmed: past the payment deadline and
        the step deadline of the steps around it."""
        return int(self.payment_deadline_s + self.step_deadline_s + self.step_timeout_s)

    @property
    def timing(self) -> Timing:
        return Timing(self.step_timeout_s, self.step_deadline_s)
