"""Failpoints: named places where a fault test makes a process die at an exact moment.

Inert unless ``FAILPOINTS_DIR`` names a directory (read once, at import). A failpoint is armed
by a file of its name in that directory; the file says what to do:

* ``exit`` (or empty): the process ends at once with ``os._exit(137)``, as under SIGKILL:
  no ``finally``, no flush, no commit, no goodbye to Kafka;
* ``exit N``: the same on the N-th time the point is reached (in this process);
* ``exit sticky``: the file stays, so every process that reaches the point dies there (a
  message that kills whichever worker takes it);
* ``match=TEXT`` (with any of the above): only where the point's subject (say, the message
  id) contains TEXT.

Otherwise the file is removed as the point fires, so the restarted process runs clean: one
armed file, one crash. Nothing here runs in production (the variable is unset and ``hit`` returns at once).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_DIR = os.environ.get("FAILPOINTS_DIR")
_hits: dict[str, int] = {}

# The points the platform's code reaches (documented in docs/ARCHITECTURE.md, "Failure
# model"), with the subject each is reached with (what ``match=`` looks in).
# Effect committed, offset not acked; "<consumer>:<topic>:<record key>".
CONSUMER_AFTER_COMMIT = "consumer.after_commit"
# Kafka acknowledged a batch, its rows not marked sent; the service's name.
RELAY_AFTER_ACK = "relay.after_ack"
# A timer wrote its change and outbox rows, not committed; "<job>:<item>".
SWEEPER_BEFORE_COMMIT = "sweeper.before_commit"
# The payment provider answered, nothing committed; "<operation>:<booking id>".
PROVIDER_AFTER_CALL = "provider.after_call"
# A handler is about to run in its transaction; "<consumer>:<message id>".
HANDLER_CRASH = "consumer.handler"


def hit(name: str, subject: str = "") -> None:
    """Reach failpoint ``name``: nothing happens unless a test armed it."""
    if _DIR is None:
        return
    _fire(name, subject)


def _fire(name: str, subject: str) -> None:
    assert _DIR is not None
    armed = Path(_DIR) / name
    try:
        spec = armed.read_text().split()
    except OSError:
        return
    match = next((a.removeprefix("match=") for a in spec if a.startswith("match=")), "")
    if match and match not in subject:
        return
    _hits[name] = _hits.get(name, 0) + 1
    action, *args = spec or ["exit"]
    nth = next((int(a) for a in args if a.isdigit()), 1)
    if action == "exit" and _hits[name] >= nth:
        if "sticky" not in args:
            armed.unlink(missing_ok=True)
        sys.stderr.write(f"failpoint {name}: exiting\n")
        sys.stderr.flush()
        os._exit(137)
