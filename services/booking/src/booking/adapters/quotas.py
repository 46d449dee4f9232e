"""What a guest may have at once, counted in the booking database (``service_kit.quotas``)."""

from __future__ import annotations

from booking.settings import BookingSettings
from service_kit.quotas import GuestQuota


def unpaid_quota(settings: BookingSettings) -> GuestQuota:
    """Bank-transfer bookings a guest has not paid yet (each holds capacity until its
    deadline): at most BOOKING_GUEST_MAX_UNPAID_BOOKINGS (409 unpaid-booking-quota-exceeded)."""
    return GuestQuota(
        name="unpaid-booking",
        limit=settings.guest_max_unpaid_bookings,
        count_sql=(
            "SELECT count(*) FROM bookings WHERE tenant_id = :tenant AND guest_id = :guest "
            "AND payment_method = 'bank_transfer' AND status IN ('pending', 'awaiting_payment')"
        ),
        what="unpaid bank-transfer bookings",
        remedy="Pay one, or cancel one, first.",
    )


def entry_quota(settings: BookingSettings) -> GuestQuota:
    """Waiting entries per guest: at most BOOKING_GUEST_MAX_WAITLIST_ENTRIES (409
    waitlist-entry-quota-exceeded)."""
    return GuestQuota(
        name="waitlist-entry",
        limit=settings.guest_max_waitlist_entries,
        count_sql=(
            "SELECT count(*) FROM waitlist_entries WHERE tenant_id = :tenant "
            "AND guest_id = :guest AND status IN ('waiting', 'offered')"
        ),
        what="waitlist entries",
        remedy="Leave one first.",
    )
