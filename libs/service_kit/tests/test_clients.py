"""The client's address behind trusted proxies, and only behind them."""

from __future__ import annotations

import pytest

from service_kit.clients import client_address, parse_networks

INGRESS = parse_networks("10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", [], "203.0.113.7"),  # no proxy: the peer
        ("203.0.113.7", ["1.2.3.4"], "203.0.113.7"),  # an untrusted peer's header is ignored
        ("10.1.2.3", ["198.51.100.9"], "198.51.100.9"),  # through the ingress
        ("10.1.2.3", ["1.2.3.4, 198.51.100.9"], "198.51.100.9"),  # a forged left part
        ("10.1.2.3", ["198.51.100.9, 10.4.4.4"], "198.51.100.9"),  # two trusted hops
        ("10.1.2.3", ["1.2.3.4", "198.51.100.9"], "198.51.100.9"),  # two header lines
        ("fd00::5", ["2001:db8::9"], "2001:db8::9"),
        ("10.1.2.3", [], "10.1.2.3"),  # the proxy said nothing: it is the client we know
        ("10.1.2.3", ["not-an-ip, 10.9.9.9"], "not-an-ip"),  # garbage stops the walk
    ],
)
def test_the_client_is_the_first_address_not_a_trusted_proxy_from_the_right(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(peer, forwarded, INGRESS) == client


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_address("10.1.2.3", ["198.51.100.9"], ()) == "10.1.2.3"
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, nonsense")
