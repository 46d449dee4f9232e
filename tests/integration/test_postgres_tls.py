"""Postgres over TLS with the server's certificate checked (``sslmode=verify-full``, the chart's
default): the services' engine, the relay's raw connections and the migrations all read the
libpq parameters of the URL, or ``PGSSLROOTCERT`` as the chart sets it, and refuse a server
whose certificate their CA did not sign. Shown against a real Postgres speaking TLS with a
certificate of a CA made here."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from devstack.postgres import EmbeddedPostgres, debian_bin_dir
from devstack.procs import free_ports
from devstack.tls import LocalCA
from service_kit.db import DbTimeouts, make_engine, raw_connector
from service_kit.migrate import upgrade_to_head

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[tuple[EmbeddedPostgres, LocalCA]]:
    workdir = Path(tempfile.mkdtemp(prefix="booking-pgtls-", dir="/var/tmp"))
    workdir.chmod(0o755)
    ca = LocalCA(workdir / "ca").ensure()
    (port,) = free_ports(1)
    bin_dir = debian_bin_dir()
    assert bin_dir, "Debian's postgresql (with TLS) is needed: scripts/bootstrap.sh installs it"
    pg = EmbeddedPostgres(
        workdir / "data", port, workdir / "postgres.log", fsync=False, tls=ca, bin_dir=bin_dir
    )
    pg.start()
    try:
        pg.create_database("pricing")
        yield pg, ca
    finally:
        pg.stop()


def _url(pg: EmbeddedPostgres, query: str, database: str = "pricing", user: str = "postgres"):
    # "localhost": verify-full checks the name in the certificate, not only its signature.
    return f"postgresql://{user}@localhost:{pg.port}/{database}?{query}"


async def _encrypted(url: str) -> bool:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return bool(
                (
                    await conn.execute(
                        text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


def test_the_engine_and_raw_connections_verify_the_server(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA],
) -> None:
    pg, ca = tls_postgres
    url = _url(pg, f"sslmode=verify-full&sslrootcert={ca.cert}")
    assert asyncio.run(_encrypted(url))

    async def raw() -> bool:
        conn = await raw_connector(url, DbTimeouts())()
        try:
            return bool(
                await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
        finally:
            await conn.close()

    assert asyncio.run(raw())


def test_the_ca_may_come_from_pgsslrootcert_as_the_chart_sets_it(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA], monkeypatch: pytest.MonkeyPatch
) -> None:
    pg, ca = tls_postgres
    monkeypatch.setenv("PGSSLROOTCERT", str(ca.cert))
    assert asyncio.run(_encrypted(_url(pg, "sslmode=verify-full")))


def test_a_server_signed_by_another_ca_is_refused(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA], tmp_path: Path
) -> None:
    pg, _ = tls_postgres
    stranger = LocalCA(tmp_path / "other").ensure()
    with pytest.raises(Exception, match="certificate verify failed"):
        asyncio.run(_encrypted(_url(pg, f"sslmode=verify-full&sslrootcert={stranger.cert}")))


def test_migrations_run_over_verified_tls_and_grant_the_services_role(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA],
) -> None:
    pg, ca = tls_postgres
    pg.create_app_role("pricing")  # pricing_app, as the local platform makes it
    query = f"sslmode=verify-full&sslrootcert={ca.cert}"
    upgrade_to_head("pricing", _url(pg, query), _url(pg, query, user="pricing_app"))

    async def as_app() -> int:
        conn = await asyncpg.connect(_url(pg, query, user="pricing_app"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM rate_plans"))
        finally:
            await conn.close()

    assert asyncio.run(as_app()) == 0  # granted, and the wall shows it no tenant's rows


@pytest.mark.parametrize(
    ("mode", "with_ca", "encrypted"),
    [
        ("disable", False, False),
        ("prefer", False, True),
        ("require", False, True),  # encrypted, the certificate not checked
        ("verify-ca", True, True),  # signed by the CA; the name not checked
        ("verify-full", True, True),
    ],
)
def test_every_sslmode_is_honoured(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA], mode: str, with_ca: bool, encrypted: bool
) -> None:
    pg, ca = tls_postgres
    query = f"sslmode={mode}" + (f"&sslrootcert={ca.cert}" if with_ca else "")
    assert asyncio.run(_encrypted(_url(pg, query))) is encrypted


def test_verify_ca_refuses_another_ca_too(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA], tmp_path: Path
) -> None:
    pg, _ = tls_postgres
    stranger = LocalCA(tmp_path / "other").ensure()
    with pytest.raises(Exception, match="certificate verify failed"):
        asyncio.run(_encrypted(_url(pg, f"sslmode=verify-ca&sslrootcert={stranger.cert}")))


def test_bpctl_connects_over_verified_tls(
    tls_postgres: tuple[EmbeddedPostgres, LocalCA],
) -> None:
    """The operator's tool reads the same URL parameters (``bpctl`` in a cluster gets the
    chart's ``verify-full`` URLs)."""
    from bpctl import db_ops

    pg, ca = tls_postgres
    url = _url(pg, f"sslmode=verify-full&sslrootcert={ca.cert}")
    rows = asyncio.run(
        db_ops._fetch(url, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    )
    assert rows[0]["ssl"] is True
