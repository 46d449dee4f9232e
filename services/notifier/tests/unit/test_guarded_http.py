"""The webhook HTTP client connects only where the target policy allows, checked when it
connects (not only when the endpoint was registered), and never follows a redirect."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from notifier.adapters.http import webhook_client
from notifier.domain.targets import TargetRefused


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302 if self.path == "/moved" else 200)
            self.send_header("location", "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def test_loopback_is_refused_unless_allowed(server: str) -> None:
    async with webhook_client((), 5.0) as refusing:
        with pytest.raises(TargetRefused):
            await refusing.post(server + "/hook", content=b"{}")
        with pytest.raises(TargetRefused):  # a name that resolves to loopback is no way round
            await refusing.post(server.replace("127.0.0.1", "localhost") + "/hook", content=b"{}")
    async with webhook_client((ipaddress.ip_network("127.0.0.0/8"),), 5.0) as allowing:
        assert (await allowing.post(server + "/hook", content=b"{}")).status_code == 200


async def test_redirects_are_answers_not_instructions(server: str) -> None:
    async with webhook_client((ipaddress.ip_network("127.0.0.0/8"),), 5.0) as client:
        response = await client.post(server + "/moved", content=b"{}")
    assert response.status_code == 302
