"""Sending email over SMTP (aiosmtplib), with the answer read as a delivery outcome.

A 5xx reply (to the sender, a recipient or the data) is permanent: the same message would be
refused again. A 4xx reply, a refused connection, a timeout or a dropped connection is
transient and goes back on the schedule.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from notifier.domain.delivery import Outcome
from notifier.settings import NotifierSettings


class SmtpMailer:
    def __init__(self, settings: NotifierSettings) -> None:
        self._s = settings

    async def send(self, message: EmailMessage) -> Outcome:
        s = self._s
        try:
            _refused, answer = await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_security == "tls",
                start_tls={"opportunistic": None, "starttls": True, "tls": False, "none": False}[
                    s.smtp_security
                ],
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return Outcome(
                ok=False,
                code=codes[0] if codes else None,
                error="recipient refused",
                permanent=bool(codes) and all(c >= 500 for c in codes),
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(
                ok=False, code=exc.code, error=f"SMTP {exc.code}", permanent=exc.code >= 500
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(ok=True, code=250, response=answer[:500])
