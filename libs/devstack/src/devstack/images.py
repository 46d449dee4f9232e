"""The platform's container images, built and run with podman on a machine with no registry.

The Dockerfile's defaults (``python:3.11-slim``, ``ghcr.io/astral-sh/uv``) are for real users;
here both bases are made locally and passed as build arguments:

- the base: Debian bookworm by ``debootstrap`` (minbase, with python3, ca-certificates and
  tzdata), imported as ``localhost/booking-platform/base:<recipe>``;
- uv: the binary of the uv wheel from PyPI (the one this environment runs), in an image of its
  own, ``localhost/booking-platform/uv:<version>``.

Both are made once and kept (their tag names the recipe); the service images are rebuilt on
every call, and podman's layer cache makes that fast when only the code changed. podman runs
with ``deploy/podman/containers.conf`` (``runc``, host network, explicit ulimits), and
:class:`PodmanService` serves its Docker-compatible API for testcontainers.

The local platform's own servers may run in containers too (``PLATFORM_INFRA=containers``):
:class:`InfraContainer` runs the Kafka broker or Postgres with the argv it has as a process,
in an infra image (the base and Debian's JRE or ``postgresql-15``, :func:`ensure_infra`).

    python -m devstack.images                  # every image; prints sizes and build times
    python -m devstack.images booking bpctl    # some of them
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.kafka import REPO_ROOT
from devstack.procs import Proc, spawn, wait_for

CONTAINERS_CONF = REPO_ROOT / "deploy" / "podman" / "containers.conf"
CHART = REPO_ROOT / "deploy" / "helm" / "booking-platform"
IMAGES = ("booking", "inventory", "pricing", "payment", "notifier", "bpctl")
REPOSITORY = "localhost/booking-platform"
SUITE = "bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "ca-certificates", "tzdata")
# What a build may need to reach PyPI through a TLS-intercepting proxy: the host's CA bundle,
# given to the build as a secret (it never enters an image).
CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")


class ImageError(RuntimeError):
    """podman or debootstrap failed; the message has the end of its output."""


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def available() -> str | None:
    """Why images cannot be built here, or None when they can."""
    for tool in ("podman", "debootstrap", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/bootstrap.sh installs it from Debian)"
    if os.geteuid() != 0:
        return "building the base image with debootstrap needs root"
    return None


def podman(*args: str, capture: bool = False, timeout: float = 1800) -> str:
    proc = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or "")[-2000:] if capture else "(its output is above)"
        raise ImageError(f"podman {' '.join(args[:2])} failed ({proc.returncode}): {tail}")
    return proc.stdout or ""


def exists(tag: str) -> bool:
    return (
        subprocess.run(["podman", "image", "exists", tag], env=podman_env(), check=False).returncode
        == 0
    )


def app_version() -> str:
    for line in (CHART / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip("\"'")
    raise ImageError("the chart has no appVersion")


def tag_of(image: str) -> str:
    """The tag the chart renders with ``image.registry=localhost``."""
    return f"{REPOSITORY}/{image}:{app_version()}"


def base_tag() -> str:
    recipe = json.dumps([SUITE, MIRROR, BASE_PACKAGES, "minbase", 1]).encode()
    return f"{REPOSITORY}/base:{SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


def uv_binary() -> Path:
    """The uv of this environment: the binary of the uv wheel from PyPI (the dev group's)."""
    found = Path(sys.executable).parent / "uv"
    if not found.is_file():
        raise ImageError(f"no uv beside {sys.executable}: the dev dependency group installs it")
    return found


def uv_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def ensure_base(log: Path | None = None) -> str:
    """The Debian base image, made by debootstrap the first time."""
    tag = base_tag()
    if exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="booking-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        with open(log or os.devnull, "ab") as out:
            done = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    SUITE,
                    str(rootfs),
                    MIRROR,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise ImageError(f"debootstrap failed ({done.returncode}); see {log or 'its log'}")
        # What an image has no use for: downloaded packages, package lists, docs, logs.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/info", "var/log"):  # fmt: skip
            for path in (rootfs / junk).glob("*"):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.name != "lock":
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "--change", "CMD=/bin/sh", "-", tag],
            stdin=tar.stdout,
            env=podman_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"podman import failed: {imported.stderr[-2000:]}")
    return tag


def ensure_uv() -> str:
    binary = uv_binary()
    tag = f"{REPOSITORY}/uv:{uv_version(binary)}"
    if exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="booking-uv-") as tmp:
        shutil.copy2(binary, Path(tmp) / "uv")
        (Path(tmp) / "Containerfile").write_text("FROM scratch\nCOPY uv /uv\n")
        podman("build", "--quiet", "-t", tag, tmp, capture=True)
    return tag


def build(image: str, base: str, uv_image: str, *, quiet: bool = True) -> str:
    """One image of the Dockerfile (a service, or bpctl), tagged as the chart names it."""
    tag = tag_of(image)
    args = [
        "build",
        "--network=host",
        "--layers",
        "--build-arg",
        f"SERVICE={image}",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"UV_IMAGE={uv_image}",
        "-f",
        str(REPO_ROOT / "Dockerfile"),
        "-t",
        tag,
    ]
    if CA_BUNDLE.is_file():
        args += ["--secret", f"id=ca-bundle,src={CA_BUNDLE}"]
    if quiet:
        args.append("--quiet")
    podman(*args, str(REPO_ROOT), capture=quiet)
    return tag


def size(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag, capture=True).strip())


@dataclass
class Built:
    image: str
    tag: str
    seconds: float
    size: int


def build_all(images: Sequence[str] = IMAGES, *, quiet: bool = True) -> list[Built]:
    base, uv_image = ensure_base(), ensure_uv()
    built = []
    for image in images:
        started = time.monotonic()
        tag = build(image, base, uv_image, quiet=quiet)
        built.append(Built(image, tag, time.monotonic() - started, size(tag)))
    return built


# The local platform's servers, where an operator prefers them in containers
# (PLATFORM_INFRA=containers): the base with Debian's packages of each.
INFRA_PACKAGES = {"kafka": ("openjdk-17-jre-headless",), "postgres": ("postgresql-15",)}
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def ensure_infra(kind: str) -> str:
    """The image a server of the local platform runs in: the base and Debian's packages."""
    base = ensure_base()
    packages = INFRA_PACKAGES[kind]
    recipe = hashlib.sha256(json.dumps([base, packages]).encode()).hexdigest()[:12]
    tag = f"{REPOSITORY}/{kind}-runtime:{recipe}"
    if exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="booking-infra-") as tmp:
        (Path(tmp) / "Containerfile").write_text(
            f"FROM {base}\n"
            # The base has no man pages; Java's alternatives still link theirs there.
            "RUN mkdir -p /usr/share/man/man1 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            f"--no-install-recommends {' '.join(packages)} >/dev/null "
            "&& rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb\n"
        )
        podman("build", "--network=host", "--quiet", "-t", tag, tmp, capture=True)
    return tag


@dataclass
class InfraContainer:
    """A server of the local platform (the Kafka broker, Postgres) run in a container of its
    infra image with the argv it has as a process: the files it names are bound at the same
    paths, it shares the host's network, and it runs as the same user. Stopping the ``podman
    run`` client stops it (podman passes the signal on); ``pid`` is the server's own process,
    so a test can freeze or kill it as it would the process."""

    name: str
    kind: str
    binds: Sequence[Path]
    user: tuple[int, int] | None = None

    def argv(self, argv: Sequence[str]) -> list[str]:
        run = ["podman", "run", "--rm", "--name", self.name, "--network=host"]
        for path in sorted({p.resolve() for p in self.binds}):
            run += ["-v", f"{path}:{path}"]
        if self.user is not None:
            run += ["--user", f"{self.user[0]}:{self.user[1]}"]
        return [*run, ensure_infra(self.kind), *argv]

    def run(self, argv: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """A one-off command (formatting storage, initdb) in a container of its own."""
        self.remove()
        return subprocess.run(
            self.argv(argv), env=podman_env(), capture_output=True, timeout=timeout, check=False
        )

    def spawn(self, argv: Sequence[str], log_path: Path) -> Proc:
        self.remove()
        return spawn(self.name, self.argv(argv), log_path=log_path, env=podman_env())

    def pid(self) -> int | None:
        out = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Pid}}", self.name],
            env=podman_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        pid = out.stdout.strip()
        return int(pid) if out.returncode == 0 and pid.isdigit() and pid != "0" else None

    def signal(self, name: str) -> None:
        """A signal to the server (``podman kill --signal``): KILL, QUIT, STOP, ..."""
        subprocess.run(
            ["podman", "kill", "--signal", name, self.name],
            env=podman_env(),
            capture_output=True,
            check=False,
        )

    def remove(self) -> None:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "10", self.name],
            env=podman_env(),
            capture_output=True,
            check=False,
        )


def infra_in_containers() -> bool:
    """PLATFORM_INFRA=containers: the local platform's Kafka and Postgres run in containers."""
    mode = os.environ.get("PLATFORM_INFRA", "processes")
    if mode not in ("processes", "containers"):
        raise ValueError(f"PLATFORM_INFRA={mode!r}: processes or containers")
    return mode == "containers"


class PodmanService:
    """podman's Docker-compatible API on a socket of its own, for testcontainers: started with
    the project's containers.conf, stopped (and its socket removed) on exit. testcontainers'
    reaper (Ryuk) is off, so whoever starts a container removes it."""

    def __init__(self, workdir: Path) -> None:
        self.socket = workdir / "podman.sock"
        self.log = workdir / "podman-service.log"
        self.proc: Proc | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def __enter__(self) -> PodmanService:
        self.socket.unlink(missing_ok=True)
        self.proc = spawn(
            "podman-service",
            ["podman", "system", "service", "--time=0", self.docker_host],
            log_path=self.log,
            env=podman_env(),
        )
        wait_for(self.socket.exists, 30, "podman system service", proc=self.proc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.socket.unlink(missing_ok=True)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """DOCKER_HOST and the testcontainers settings, for the duration of a block."""
        wanted = {"DOCKER_HOST": self.docker_host, "TESTCONTAINERS_RYUK_DISABLED": "true"}
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", metavar="IMAGE", help=f"of {', '.join(IMAGES)}")
    parser.add_argument("--verbose", action="store_true", help="show podman's build output")
    args = parser.parse_args(argv)
    unknown = set(args.images) - set(IMAGES)
    if unknown:
        parser.error(f"no such image: {', '.join(sorted(unknown))}")
    why = available()
    if why:
        print(why, file=sys.stderr)
        return 2
    started = time.monotonic()
    base = ensure_base(log=REPO_ROOT / ".cache" / "debootstrap.log")
    print(f"base {base} ({size(base) / 1e6:.0f} MB) ready after {time.monotonic() - started:.0f}s")
    for built in build_all(args.images or IMAGES, quiet=not args.verbose):
        print(f"{built.tag}: {built.size / 1e6:.0f} MB, built in {built.seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
