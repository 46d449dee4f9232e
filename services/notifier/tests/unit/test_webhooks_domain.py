"""Standard Webhooks signing (checked with the reference library), the retry verdicts, and the
target policy that keeps webhooks out of private networks."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.domain import webhooks
from notifier.domain.delivery import Outcome, Verdict, judge
from notifier.domain.targets import TargetRefused, check_target, split_url

SCHEDULE = (5.0, 300.0, 1800.0)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_a_signature_verifies_with_the_reference_library_and_a_tampered_body_does_not() -> None:
    secret = webhooks.new_secret()
    body = json.dumps({"type": "booking.confirmed", "data": {"x": "ç"}}).encode()
    ts = int(datetime.now(UTC).timestamp())
    headers = webhooks.headers([secret], "msg_1", ts, body)
    assert Webhook(secret).verify(body, headers)["data"] == {"x": "ç"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"confirmed", b"cancelled"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    body = b'{"type":"booking.created"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = webhooks.headers([new, old], "msg_2", ts, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)


@pytest.mark.parametrize("bad", ["abc", "whsec_!!!", "whsec_" + "QUJD", "sk_live_x"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(webhooks.InvalidSecret):
        webhooks.secret_key(bad)


def test_the_webhook_id_is_the_notification_id() -> None:
    assert webhooks.webhook_id("0b9e3d7e-8a51-4c31-9a0e-5d3f1c2b4a60") == (
        "msg_0b9e3d7e8a514c319a0e5d3f1c2b4a60"
    )


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (301, Verdict.RETRY),
        (307, Verdict.RETRY),
        (400, Verdict.RETRY),
        (404, Verdict.RETRY),
        (410, Verdict.GONE),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_only_2xx_delivers_and_410_disables(status: int, verdict: Verdict) -> None:
    outcome = webhooks.http_outcome(status, None, NOW, "")
    assert judge(outcome, 1, SCHEDULE).verdict is verdict


def test_the_schedule_spaces_attempts_and_then_gives_up() -> None:
    fail = Outcome(ok=False, error="timed out")
    assert [judge(fail, n, SCHEDULE).delay_s for n in (1, 2, 3)] == [5.0, 300.0, 1800.0]
    assert judge(fail, 4, SCHEDULE).verdict is Verdict.FAILED
    stretched = judge(fail, 1, SCHEDULE, jitter=1.0).delay_s
    assert 5.0 < stretched <= 6.0


def test_retry_after_is_honoured_on_429_and_5xx_only_and_never_shortens_the_schedule() -> None:
    later = webhooks.http_outcome(429, "120", NOW, "")
    assert judge(later, 1, SCHEDULE).delay_s == 120.0
    dated = webhooks.http_outcome(
        503, (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT"), NOW, ""
    )
    assert judge(dated, 1, SCHEDULE).delay_s == pytest.approx(90.0)
    assert judge(webhooks.http_outcome(429, "1", NOW, ""), 2, SCHEDULE).delay_s == 300.0
    assert webhooks.http_outcome(400, "120", NOW, "").retry_after_s is None
    assert webhooks.http_outcome(429, "soon", NOW, "").retry_after_s is None
    capped = judge(webhooks.http_outcome(429, "999999", NOW, ""), 1, SCHEDULE, max_retry_after_s=60)
    assert capped.delay_s == 60.0


def test_a_permanent_failure_is_not_retried() -> None:
    assert judge(Outcome(ok=False, code=550, permanent=True), 1, SCHEDULE).verdict is Verdict.FAILED


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        # IPv6 forms that lead to an IPv4 address (Python 3.11 counts them all as global):
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix
        "2002:a00:1::1",  # 6to4 through 10.0.0.1
        "2002:7f00:1::",  # 6to4 through 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::808:808",  # IPv4-compatible: deprecated even for a public address
        "::ffff:0:a00:1",  # SIIT IPv4-translated 10.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "fec0::1",  # site-local (deprecated)
        "3ffe::1",  # the 6bone (returned)
    ],
)
def test_private_loopback_link_local_and_reserved_targets_are_refused(address: str) -> None:
    with pytest.raises(TargetRefused):
        check_target("https", [ipaddress.ip_address(address)], ())


def test_an_allowed_network_opens_its_addresses_and_plain_http_only_to_them() -> None:
    check_target("http", [ipaddress.ip_address("127.0.0.1")], LOOPBACK)
    check_target("https", [ipaddress.ip_address("::ffff:127.0.0.1")], LOOPBACK)
    check_target("https", [ipaddress.ip_address("93.184.215.14")], ())
    # Translated forms of public addresses are public; a plain public IPv6 address is too.
    for public in ("64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"):
        check_target("https", [ipaddress.ip_address(public)], ())
    with pytest.raises(TargetRefused):
        check_target("http", [ipaddress.ip_address("93.184.215.14")], LOOPBACK)
    with pytest.raises(TargetRefused):  # one bad address among good ones is enough
        check_target("https", [ipaddress.ip_address(a) for a in ("93.184.215.14", "10.0.0.1")], ())


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "https:///path",
        "https://u:p@example.com/",
        "https://example.com/#x",
        "https://example.com:99999/",
        "javascript:alert(1)",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_urls_that_cannot_be_webhooks_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        split_url(url)


def test_a_webhook_url_gives_scheme_host_and_port() -> None:
    assert split_url("https://hooks.example.com/b?x=1") == ("https", "hooks.example.com", 443)
    assert split_url("http://127.0.0.1:8080/h") == ("http", "127.0.0.1", 8080)
