"""``python -m service_kit.main <service> <role>``: the one entry point behind every process.

Roles: ``web`` (REST), ``worker`` (faust consumers, with the relay embedded unless
``<SERVICE>_RELAY_EMBEDDED=false``), ``relay`` (standalone outbox relay), ``migrate``.
"""

from __future__ import annotations

import importlib
import sys

from service_kit.migrate import upgrade_to_head
from service_kit.runtime import ServiceDefinition, run_relay, run_web, run_worker

SERVICES = ("booking", "inventory", "pricing", "payment", "notifier")


def load(service: str) -> ServiceDefinition:
    if service not in SERVICES:
        raise SystemExit(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"{service}.bootstrap").SERVICE


def migrate(definition: ServiceDefinition) -> None:
    settings = definition.settings_factory()
    app_url = settings.database_url.get_secret_value()
    owner = settings.migrations_database_url
    upgrade_to_head(definition.name, owner.get_secret_value() if owner else app_url, app_url)


ROLES = {"web": run_web, "worker": run_worker, "relay": run_relay, "migrate": migrate}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[1] not in ROLES:
        raise SystemExit(f"usage: python -m service_kit.main <service> <{'|'.join(ROLES)}>")
    service, role = args
    ROLES[role](load(service))


if __name__ == "__main__":
    main()
