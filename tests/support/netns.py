"""A host of its own for one process: a network namespace joined to this one by a veth pair,
with TCP forwarders on both ends so the process inside reaches the platform's loopback services
at the addresses it was given (``127.0.0.1:<port>``), and a switch that silently drops one
service's traffic (a partition: no reset, no error, packets simply stop).

Inside the namespace ``127.0.0.1:<port>`` is served by a forwarder (``python -m
tests.support.netns forward``) to the root end of the veth; there a forwarder in this process
passes it on to the real ``127.0.0.1:<port>``. Cutting a port stops the root forwarder moving
its bytes (connections stay open, as across a partition); healing lets them flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field

from devstack.kafka import REPO_ROOT
from devstack.procs import Proc, spawn


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: threading.Event
) -> None:
    try:
        while data := await reader.read(65536):
            while not flowing.is_set():  # cut: hold the bytes, as a partitioned link does
                await asyncio.sleep(0.1)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def forward(listen: tuple[str, int], to: tuple[str, int], flowing: threading.Event) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*to)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, flowing), _pipe(up_reader, writer, flowing))

    server = await asyncio.start_server(handle, *listen)
    async with server:
        await server.serve_forever()


@dataclass
class Namespace:
    ports: list[int]  # the platform's loopback ports the process inside needs
    name: str = field(default_factory=lambda: f"bp{uuid.uuid4().hex[:6]}")
    net: int = 213
    _switches: dict[int, threading.Event] = field(default_factory=dict)
    _inner: Proc | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def host_ip(self) -> str:
        return f"10.{self.net}.0.1"

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def __enter__(self) -> Namespace:
        host_if, ns_if = f"{self.name}h", f"{self.name}n"
        self._ip("netns", "add", self.name)
        self._ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        self._ip("link", "set", ns_if, "netns", self.name)
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", host_if)
        self._ip("link", "set", host_if, "up")
        ns = ("netns", "exec", self.name, "ip")
        self._ip(*ns, "addr", "add", f"10.{self.net}.0.2/30", "dev", ns_if)
        self._ip(*ns, "link", "set", ns_if, "up")
        self._ip(*ns, "link", "set", "lo", "up")
        self._start_root_forwarders()
        self._inner = spawn(
            f"netns-{self.name}",
            [
                "ip",
                "netns",
                "exec",
                self.name,
                sys.executable,
                "-m",
                "tests.support.netns",
                "forward",
                self.host_ip,
                *map(str, self.ports),
            ],
            log_path=REPO_ROOT / ".local" / f"netns-{self.name}.log",
            cwd=REPO_ROOT,
        )
        return self

    def _start_root_forwarders(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            for port in self.ports:
                flowing = threading.Event()
                flowing.set()
                self._switches[port] = flowing
                self._tasks.append(
                    loop.create_task(forward((self.host_ip, port), ("127.0.0.1", port), flowing))
                )
            loop.call_soon(ready.set)
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def wrapper(self) -> tuple[str, ...]:
        """What a process runs under to live in the namespace."""
        return ("ip", "netns", "exec", self.name)

    def cut(self, port: int) -> None:
        self._switches[port].clear()

    def heal(self, port: int) -> None:
        self._switches[port].set()

    def __exit__(self, *exc: object) -> None:
        if self._inner is not None:
            self._inner.stop(timeout=5)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        subprocess.run(["ip", "link", "del", f"{self.name}h"], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def main(argv: list[str]) -> None:
    """``forward <host ip> <port>...``: inside the namespace, 127.0.0.1:<port> -> host:<port>."""
    _, host, *ports = argv
    always = threading.Event()
    always.set()

    async def all_of_them() -> None:
        await asyncio.gather(
            *(forward(("127.0.0.1", int(p)), (host, int(p)), always) for p in ports)
        )

    asyncio.run(all_of_them())


if __name__ == "__main__":
    main(sys.argv[1:])
