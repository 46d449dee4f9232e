"""Where the platform is: the local one's state file (written by ``make run`` / ``bpctl start``),
overridden by the same variables the services read, so bpctl works against a cluster too
(``KAFKA_BOOTSTRAP_SERVERS``, ``<SERVICE>_DATABASE_URL``, ``<SERVICE>_URL``, e.g. through
``kubectl port-forward``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.client import discover_urls
from devstack.kafka import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / ".local" / "platform"


class NotConfigured(RuntimeError):
    """What bpctl needs is not known; the message says which variable to set."""


@dataclass
class Target:
    workdir: Path
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: Path | None = None) -> Target:
        workdir = workdir or Path(os.environ.get("BPCTL_PLATFORM_DIR") or DEFAULT_DIR)
        state_file = workdir / "state.json"
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        return cls(workdir, state)

    @property
    def running_locally(self) -> bool:
        return bool(self.state)

    def kafka(self) -> str:
        """The bootstrap servers. For the local platform, its admin principal's security
        settings too (KAFKA_*, into this process's environment, where every client reads
        them); a cluster's come from the environment as for the services."""
        value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not value:
            value = self.state.get("kafka")
            for name, setting in self.state.get("kafka_env", {}).items():
                os.environ.setdefault(name, setting)
        if not value:
            raise NotConfigured("no platform running here: set KAFKA_BOOTSTRAP_SERVERS")
        return str(value)

    def database_url(self, service: str) -> str:
        value = os.environ.get(f"{service.upper()}_DATABASE_URL") or self.state.get(
            "database_urls", {}
        ).get(service)
        if not value:
            raise NotConfigured(f"no platform running here: set {service.upper()}_DATABASE_URL")
        return str(value)

    def urls(self) -> dict[str, str]:
        return discover_urls(self.workdir)
