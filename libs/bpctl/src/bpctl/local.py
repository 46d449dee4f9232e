"""Start, stop and inspect the local platform (the one ``make run`` starts) from another
terminal: ``bpctl start`` launches ``python -m devstack run`` in the background and waits until
every process is ready; ``bpctl stop`` signals that launcher, which stops what it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES
from devstack.procs import Proc, wait_for


@dataclass(frozen=True)
class Check:
    name: str
    pid: int | None
    alive: bool
    ready: str  # "ready", "not ready: ...", "-"


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:  # reap it if it is our own child that exited (else it lingers as a zombie)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _probe(client: httpx.Client, url: str | None) -> str:
    if not url:
        return "-"
    try:
        response = client.get(f"{url}/readyz")
    except httpx.HTTPError as exc:
        return f"not ready: {type(exc).__name__}"
    if response.status_code == 200:
        return "ready"
    checks = response.json().get("checks", {})
    bad = ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
    return f"not ready: {bad or response.status_code}"


def status(state: dict) -> list[Check]:
    pids = state.get("pids", {})
    out = []
    with httpx.Client(timeout=3.0) as client:
        for service in SERVICES:
            for role, url in (
                ("web", state.get("urls", {}).get(service)),
                ("worker", state.get("ops_urls", {}).get(service)),
            ):
                pid = pids.get(f"{service}-{role}")
                ok = alive(pid)
                out.append(Check(f"{service}-{role}", pid, ok, _probe(client, url) if ok else "-"))
    for name in ("kafka", "postgres", "mail_sink"):
        pid = state.get(f"{name}_pid")
        if pid is not None:
            out.append(Check(name.replace("_", " "), pid, alive(pid), "-"))
    return out


def launch(workdir: Path, free_ports: bool) -> Proc:
    """``python -m devstack run`` in its own session: unlike the platform's own children it
    outlives the bpctl that started it (``bpctl stop`` ends it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "launcher.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    argv = [sys.executable, "-m", "devstack", "run", "--workdir", str(workdir)]
    if free_ports:
        argv.append("--free-ports")
    try:
        popen = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
    finally:
        log.close()
    return Proc("the platform", popen, log_path)


def wait_started(workdir: Path, launcher: Proc, timeout_s: float) -> dict:
    """The state the launcher writes once every process is ready."""
    state_file = workdir / "state.json"

    def started() -> dict | None:
        if not state_file.exists():
            return None
        state: dict = json.loads(state_file.read_text())
        return state if state.get("launcher_pid") == launcher.pid else None

    return wait_for(started, timeout_s, "the platform to start", interval=0.5, proc=launcher)


def stop(state: dict, timeout_s: float = 90.0) -> bool:
    """Signal the launcher and wait until it has stopped everything."""
    pid = state.get("launcher_pid")
    if pid is None or not alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.3)
    return not alive(pid)
