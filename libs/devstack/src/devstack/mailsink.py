"""A real SMTP server on loopback that keeps every message it accepts in a Maildir, for local
runs and the tests (``python -m devstack.mailsink --port 2525 --maildir .local/mail``).

Read what arrived with :func:`messages` (or any mail client that opens a Maildir). It speaks
SMTP through aiosmtpd, so the notifier talks to it exactly as to a production relay.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self._box = mailbox.Maildir(maildir, create=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else raw.encode()
        # Where it was addressed, as the server saw it (headers can say otherwise).
        prefix = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos).encode()
        with self._lock:
            self._box.add(prefix + data)
        return "250 Message accepted for delivery"


def messages(maildir: Path) -> list[EmailMessage]:
    """Every message in the Maildir, in the order it arrived."""
    files = [f for sub in ("new", "cur") for f in (Path(maildir) / sub).glob("*") if f.is_file()]
    files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name))
    found: list[EmailMessage] = []
    for path in files:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    controller = Controller(
        _MaildirHandler(args.maildir),
        hostname="127.0.0.1",
        port=args.port,
        data_size_limit=10 * 1024 * 1024,
    )
    controller.start()
    print(f"mail sink on 127.0.0.1:{args.port}, keeping mail in {args.maildir}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
