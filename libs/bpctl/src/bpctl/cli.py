"""bpctl: the operator command line of the booking platform.

Against the local platform (``make run`` or ``bpctl start``) it needs nothing; against a cluster
it reads the variables the services read (``KAFKA_BOOTSTRAP_SERVERS``,
``<SERVICE>_DATABASE_URL``, ``<SERVICE>_URL``). Exit codes: 0 done, 1 a check failed or
something was refused, 2 bpctl was not told where the platform is.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bpctl import db_ops, kafka_ops, local
from bpctl import smoke as smoke_check
from bpctl.config import NotConfigured, Target
from contracts.topics import ALL_TOPICS
from devstack.platform import SERVICES
from devstack.tokens import DEFAULT_TENANT, KEY_FILE, DevKeys, sign_token
from messaging import acls, admin
from messaging.kafka import ensure_topics

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])
topics_app = typer.Typer(no_args_is_help=True, help="Kafka topics: create, describe, lag.")
outbox_app = typer.Typer(no_args_is_help=True, help="The services' outboxes.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead-letter topics: list and redrive.")
saga_app = typer.Typer(no_args_is_help=True, help="Bookings' sagas.")
app.add_typer(topics_app, name="topics")
app.add_typer(outbox_app, name="outbox")
app.add_typer(dlq_app, name="dlq")
app.add_typer(saga_app, name="saga")
acls_app = typer.Typer(no_args_is_help=True, help="Kafka ACLs of the services' principals.")
app.add_typer(acls_app, name="acls")

# Piped output (grep, a log) keeps whole rows: wide, not the 80 columns rich assumes.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)
_target: Target | None = None

PlatformDir = Annotated[
    Path | None,
    typer.Option(
        "--platform-dir",
        envvar="BPCTL_PLATFORM_DIR",
        help="The local platform's directory (default .local/platform).",
    ),
]


@app.callback()
def _main(platform_dir: PlatformDir = None) -> None:
    global _target
    _target = Target.load(platform_dir)


def target() -> Target:
    assert _target is not None
    return _target


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _urls(services: list[str] | None = None) -> dict[str, str]:
    return {s: target().database_url(s) for s in (services or list(SERVICES))}


# -- the local platform -------------------------------------------------------------------


@app.command()
def start(
    free_ports: Annotated[bool, typer.Option(help="Any free loopback ports.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 240,
) -> None:
    """Start the local platform in the background and wait until every process is ready."""
    t = target()
    if t.running_locally and local.alive(t.state.get("launcher_pid")):
        console.print(f"already running (launcher pid {t.state['launcher_pid']})")
        raise typer.Exit(0)
    with console.status("starting Postgres, Kafka, migrations, topics and the five services"):
        proc = local.launch(t.workdir, free_ports)
        try:
            state = local.wait_started(t.workdir, proc, timeout)
        except (RuntimeError, TimeoutError) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    console.print(f"platform up (launcher pid {state['launcher_pid']}); logs in {t.workdir}/logs")
    for service, url in state["urls"].items():
        console.print(f"  {service:<10} {url}")


@app.command()
def stop() -> None:
    """Stop the local platform (everything its launcher started)."""
    t = target()
    if not t.running_locally or not local.alive(t.state.get("launcher_pid")):
        console.print("not running")
        raise typer.Exit(0)
    with console.status("stopping"):
        stopped = local.stop(t.state)
    if not stopped:
        err.print(f"[red]launcher {t.state['launcher_pid']} did not stop[/red]")
        raise typer.Exit(1)
    console.print("stopped")


@app.command()
def status() -> None:
    """Every process of the local platform: alive, and ready (Postgres and Kafka answer)."""
    t = target()
    if not t.running_locally:
        err.print("no local platform: start one with `bpctl start` or `make run`")
        raise typer.Exit(1)
    checks = local.status(t.state)
    table = Table("process", "pid", "alive", "ready")
    for c in checks:
        colour = "green" if c.alive and c.ready in ("ready", "-") else "red"
        table.add_row(
            c.name, str(c.pid or "-"), "yes" if c.alive else "no", f"[{colour}]{c.ready}[/]"
        )
    console.print(table)
    if not all(c.alive and c.ready in ("ready", "-") for c in checks):
        raise typer.Exit(1)


# -- setup ------------------------------------------------------------------------------------


@app.command()
def migrate(
    services: Annotated[list[str] | None, typer.Argument(help="Default: all five.")] = None,
) -> None:
    """Bring each service's database to the latest schema (under an advisory lock)."""
    from service_kit.migrate import upgrade_to_head

    chosen = services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        err.print(f"unknown services: {', '.join(sorted(unknown))}")
        raise typer.Exit(1)
    with _progress() as progress:
        task = progress.add_task("migrating", total=len(chosen))
        for service in chosen:
            upgrade_to_head(service, target().database_url(service))
            progress.advance(task)
    console.print(f"at head: {', '.join(chosen)}")


@topics_app.command("create")
def topics_create(
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every declared topic (and dead-letter twin) that is missing."""
    created = asyncio.run(
        ensure_topics(target().kafka(), ALL_TOPICS, replication_factor=replication_factor)
    )
    console.print(
        f"created {len(created)}: {', '.join(created) or 'none'}; {len(ALL_TOPICS) - len(created)} existed"
    )


def _acls(principal: list[str] | None) -> list[acls.Acl]:
    """``--principal booking=bp-booking``: a service whose principal is not named after it."""
    names = dict(p.split("=", 1) for p in principal or [])
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"no such service: {', '.join(sorted(unknown))}")
    return acls.platform(names)


PrincipalOption = Annotated[
    list[str] | None, typer.Option("--principal", help="service=principal, when they differ")
]


@acls_app.command("show")
def acls_show(principal: PrincipalOption = None) -> None:
    """What each service's principal is allowed: nothing else is."""
    for acl in _acls(principal):
        console.print(str(acl))


@acls_app.command("apply")
def acls_apply(principal: PrincipalOption = None) -> None:
    """Create the services' ACLs (as a principal allowed to: a super user, or one with ALTER
    on the cluster). Existing ones are left alone."""
    wanted = _acls(principal)

    async def go() -> int:
        async with admin.admin(target().kafka()) as client:
            return await acls.apply(client, wanted)

    console.print(f"applied {asyncio.run(go())} ACLs")


@topics_app.command("describe")
def topics_describe() -> None:
    """Partitions, replication and messages held of every topic; declared ones that differ."""
    declared = {t.name: t for t in ALL_TOPICS}
    infos = asyncio.run(admin.topics(target().kafka()))
    table = Table(
        "topic", "partitions", "replicas", "min in-sync", "offline", "messages", "declared"
    )
    problems = 0
    seen = set()
    for info in infos:
        seen.add(info.name)
        spec = declared.get(info.name)
        note = (
            "-"
            if spec is None
            else "ok"
            if spec.partitions == info.partitions
            else f"[red]{spec.partitions} partitions[/]"
        )
        problems += bool(spec and spec.partitions != info.partitions) + bool(info.offline)
        table.add_row(
            info.name,
            str(info.partitions),
            str(info.replicas),
            str(info.in_sync),
            str(info.offline),
            str(info.messages),
            note,
        )
    for name in sorted(set(declared) - seen):
        problems += 1
        table.add_row(name, "-", "-", "-", "-", "-", "[red]missing[/]")
    console.print(table)
    if problems:
        raise typer.Exit(1)


@topics_app.command("lag")
def topics_lag(
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Repeatable; default: all.")
    ] = None,
    per_partition: Annotated[
        bool, typer.Option("--partitions", help="One row per partition.")
    ] = False,
) -> None:
    """How far each consumer group is behind, per topic (or partition)."""
    rows = asyncio.run(admin.lag(target().kafka(), group))
    if per_partition:
        table = Table("group", "topic", "partition", "committed", "end", "lag")
        for r in rows:
            table.add_row(
                r.group,
                r.topic,
                str(r.partition),
                str(r.committed if r.committed is not None else "-"),
                str(r.end),
                str(r.lag),
            )
    else:
        table = Table("group", "topic", "partitions", "lag")
        totals: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            totals.setdefault((r.group, r.topic), []).append(r.lag)
        for (g, t), lags in sorted(totals.items()):
            table.add_row(g, t, str(len(lags)), str(sum(lags)))
    console.print(table)


@app.command()
def seed(
    resources: Annotated[int, typer.Option(min=1, max=500)] = 5,
    bookings: Annotated[int, typer.Option(min=0, max=5000, help="Per resource.")] = 2,
    tenant: str = DEFAULT_TENANT,
) -> None:
    """Demo data through the APIs: resources with rate plans, and confirmed bookings."""
    from devstack.client import PlatformClient, booking_body

    client = PlatformClient(target().urls(), token=_token(tenant, ("admin",)))
    made: list[str] = []
    failed = 0
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    with _progress() as progress:
        r_task = progress.add_task("resources", total=resources)
        b_task = progress.add_task("bookings", total=resources * bookings)
        for i in range(resources):
            resource = client.create_resource(
                f"Seeded cottage {stamp}-{i + 1}", capacity=max(1, bookings)
            )
            client.create_rate_plan(resource["id"], "95.00", "EUR")
            made.append(resource["id"])
            progress.advance(r_task)
        start_day = date.today() + timedelta(days=20)
        for rid in made:
            for n in range(bookings):
                body = booking_body(rid, start_day + timedelta(days=3 * n), 2, "pm_card_visa", n)
                response = client.book(body, key=f"seed-{rid}-{n}", wait=10)
                failed += response.status_code not in (200, 201, 202)
                progress.advance(b_task)
    client.close()
    console.print(f"seeded {len(made)} resources and {resources * bookings - failed} bookings")
    if failed:
        err.print(f"[red]{failed} bookings were refused[/red]")
        raise typer.Exit(1)


@app.command()
def smoke(
    signing_key: Annotated[
        Path | None,
        typer.Option(help="Sign the check's token with this PEM key (the release's signer)."),
    ] = None,
    tenant: Annotated[str, typer.Option(help="The tenant the check books in.")] = "smoke",
    payment_method: Annotated[
        str, typer.Option(help="bank_transfer (ends awaiting_payment) or pm_card_visa.")
    ] = "bank_transfer",
    timeout: Annotated[float, typer.Option(min=1, max=1800, help="Seconds per wait.")] = 120.0,
    ready_only: Annotated[
        bool, typer.Option("--ready-only", help="Check readiness only: no booking, no token.")
    ] = False,
    issuer: Annotated[str, typer.Option(envvar="AUTH_ISSUER")] = "booking-platform",
    audience: Annotated[str, typer.Option(envvar="AUTH_AUDIENCE")] = "booking-platform-api",
) -> None:
    """The install's smoke check (the chart's helm test): every service ready, one booking
    through the saga, then cancelled. Its token: --signing-key, or PLATFORM_TOKEN (a staff
    token of the check's tenant from your identity provider), or the local platform's key.
    Workers are checked too where <SERVICE>_OPS_URL is set."""
    if ready_only:
        token_ = None
    elif signing_key is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(signing_key.read_bytes(), password=None)
        token_ = sign_token(
            key, tenant=tenant, roles=("admin",), ttl_s=900, issuer=issuer, audience=audience
        )
    elif os.environ.get("PLATFORM_TOKEN"):
        token_ = os.environ["PLATFORM_TOKEN"]
    else:
        token_ = _token(tenant, ("admin",), ttl_s=900)
    ops_urls = {
        s: os.environ[f"{s.upper()}_OPS_URL"].rstrip("/")
        for s in SERVICES
        if os.environ.get(f"{s.upper()}_OPS_URL")
    }
    try:
        report = smoke_check.run(
            target().urls(),
            token_,
            ops_urls=ops_urls,
            payment_method=payment_method,
            timeout=timeout,
            say=console.print,
        )
    except smoke_check.SmokeFailed as exc:
        err.print(f"[red]smoke check failed:[/red] {exc}")
        raise typer.Exit(1) from None
    slowest = max(report.ready_s.values(), default=0.0)
    saga = f", saga {report.saga_s:.2f}s" if report.booking_id else " (no booking: --ready-only)"
    console.print(
        f"smoke check passed: {len(report.ready_s)} processes ready within {slowest:.1f}s{saga}"
    )


def _token(
    tenant: str, roles: tuple[str, ...], subject: str | None = None, ttl_s: int = 3600
) -> str:
    keys = target().workdir / KEY_FILE
    if not keys.exists():
        err.print("no signing key here: start the platform, or pass --signing-key")
        raise typer.Exit(2)
    return DevKeys.load_or_create(target().workdir).mint(
        tenant=tenant, roles=roles, subject=subject, ttl_s=ttl_s
    )


@app.command()
def token(
    tenant: str = DEFAULT_TENANT,
    role: Annotated[
        list[str] | None, typer.Option(help="guest, staff or admin; repeatable.")
    ] = None,
    subject: str | None = None,
    ttl_minutes: Annotated[int, typer.Option(min=1, max=24 * 60)] = 480,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            help="A PEM private key (the Helm release's signing-key) instead of the local platform's."
        ),
    ] = None,
    issuer: Annotated[str, typer.Option(envvar="AUTH_ISSUER")] = "booking-platform",
    audience: Annotated[str, typer.Option(envvar="AUTH_AUDIENCE")] = "booking-platform-api",
) -> None:
    """Mint a development bearer token (printed alone, for $(bpctl token))."""
    roles = tuple(role or ["staff"])
    bad = set(roles) - {"guest", "staff", "admin"}
    if bad:
        err.print(f"unknown roles: {', '.join(sorted(bad))}")
        raise typer.Exit(1)
    if signing_key is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(signing_key.read_bytes(), password=None)
        print(
            sign_token(
                key,
                tenant=tenant,
                roles=roles,
                subject=subject,
                ttl_s=ttl_minutes * 60,
                issuer=issuer,
                audience=audience,
            )
        )
        return
    print(_token(tenant, roles, subject, ttl_minutes * 60))


# -- diagnosis --------------------------------------------------------------------------------


@saga_app.command("show")
def saga_show(
    booking: Annotated[str, typer.Argument(help="A booking id or reference.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The timeline of one booking across every service: status changes, saga notes, each
    message written, published and applied, with the time since the first."""
    try:
        head, steps = asyncio.run(db_ops.saga_timeline(_urls(), booking))
    except LookupError as exc:
        err.print(str(exc))
        raise typer.Exit(1) from None
    if as_json:
        print(
            json.dumps(
                {"booking": head, "steps": [s.__dict__ for s in steps]}, default=str, indent=2
            )
        )
        return
    console.print(f"booking {head['reference']} ({head['id']}): [bold]{head['status']}[/]")
    table = Table("+ms", "service", "what", "detail")
    t0 = steps[0].at if steps else None
    for s in steps:
        table.add_row(
            f"{(s.at - t0).total_seconds() * 1000:9.1f}" if t0 else "", s.service, s.what, s.detail
        )
    console.print(table)


@saga_app.command("parked")
def saga_parked(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every parked saga (waiting for an operator), oldest first, and why it stopped."""
    parked = asyncio.run(db_ops.parked_sagas(target().database_url("booking")))
    if as_json:
        print(json.dumps([p.__dict__ for p in parked], default=str, indent=2))
        return
    table = Table("booking", "reference", "tenant", "saga", "step", "parked at", "why")
    for p in parked:
        table.add_row(
            p.booking_id,
            p.reference,
            p.tenant_id,
            p.saga_type,
            p.current_step,
            p.parked_at.isoformat(timespec="seconds"),
            p.why,
        )
    console.print(table)
    console.print(f"{len(parked)} parked")


@saga_app.command("retry")
def saga_retry(
    bookings: Annotated[
        list[str] | None, typer.Argument(help="Booking ids; none with --all-parked.")
    ] = None,
    all_parked: Annotated[bool, typer.Option("--all-parked", help="Every parked saga.")] = False,
) -> None:
    """Resume parked sagas through the booking API (as staff of each booking's tenant, so the
    retry is audited like one made from the API): the step each stopped on is sent again."""
    parked = {
        p.booking_id: p for p in asyncio.run(db_ops.parked_sagas(target().database_url("booking")))
    }
    wanted = list(parked) if all_parked else list(bookings or [])
    if not wanted:
        err.print("name the bookings to retry, or pass --all-parked")
        raise typer.Exit(1)
    base = target().urls()["booking"]
    refused = 0
    with _progress() as progress, httpx.Client(timeout=30.0) as http:
        task = progress.add_task("retrying", total=len(wanted))
        for booking_id in wanted:
            saga = parked.get(booking_id)
            if saga is None:
                err.print(f"{booking_id}: no parked saga")
                refused += 1
            else:
                token = _token(saga.tenant_id, ("staff",), "bpctl", 300)
                r = http.post(
                    f"{base}/api/v1/bookings/{booking_id}/saga/retry",
                    headers={"Authorization": f"Bearer {token}"},
                )
                if r.status_code != 202:
                    err.print(f"{booking_id}: {r.status_code} {r.text[:200]}")
                    refused += 1
            progress.advance(task)
    console.print(f"retried {len(wanted) - refused} of {len(wanted)}")
    if refused:
        raise typer.Exit(1)


@outbox_app.command("held")
def outbox_held(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Outbox rows Kafka refused: held for a retry, or set aside (each holds back its key)."""
    rows = asyncio.run(db_ops.held_rows(_urls()))
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=str, indent=2))
        return
    table = Table("service", "id", "topic", "key", "type", "attempts", "state", "error")
    for r in rows:
        table.add_row(
            r.service,
            str(r.id),
            r.topic,
            r.key,
            r.ce_type,
            str(r.attempts),
            "[red]set aside[/]" if r.set_aside else "held",
            r.last_error,
        )
    console.print(table)
    console.print(f"{len(rows)} held, {sum(r.set_aside for r in rows)} set aside")


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Row ids; none with --all.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service's outbox.")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Every held or set-aside row.")] = False,
) -> None:
    """Send refused rows again (after fixing what Kafka refused them for: the topic, the ACL):
    each goes before the later rows of its key, as it would have."""
    if not ids and not all_rows:
        err.print("name the rows to retry, or pass --all")
        raise typer.Exit(1)
    urls = _urls([service] if service else None)
    counts = asyncio.run(db_ops.retry_held(urls, ids or None))
    for name, n in counts.items():
        if n:
            console.print(f"{name}: {n} released")
    console.print(f"released {sum(counts.values())}")


@outbox_app.command("status")
def outbox_status(
    max_age: Annotated[
        float, typer.Option(help="Fail when the oldest unsent row is older (s).")
    ] = 60.0,
) -> None:
    """Per service: unsent rows, the oldest one's age, rows sent in the last hour, rows set
    aside (fails when an outbox does not drain or holds a set-aside row)."""
    rows = asyncio.run(db_ops.outbox_status(_urls()))
    table = Table("service", "pending", "oldest (s)", "sent last hour", "set aside")
    stuck = aside = False
    for r in rows:
        old = r.oldest_age_s is not None and r.oldest_age_s > max_age
        stuck |= old
        aside |= r.set_aside > 0
        age = "-" if r.oldest_age_s is None else f"{r.oldest_age_s:.1f}"
        table.add_row(
            r.service,
            str(r.pending),
            f"[red]{age}[/]" if old else age,
            str(r.sent_last_hour),
            f"[red]{r.set_aside}[/]" if r.set_aside else "0",
        )
    console.print(table)
    if stuck:
        err.print("an outbox is not draining: is its relay (worker) running and Kafka reachable?")
    if aside:
        err.print("rows are set aside (Kafka refused them): see bpctl outbox held")
    if stuck or aside:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str, typer.Argument(help="The topic, or its .dlq twin.")],
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The dead letters of a topic: why each failed, and whether it was redriven."""
    letters = asyncio.run(kafka_ops.dead_letters(target().kafka(), topic, limit))
    if as_json:
        print(json.dumps([d.__dict__ for d in letters], indent=2))
        return
    table = Table("partition", "offset", "failed at", "type", "id", "consumer", "error", "redriven")
    for d in letters:
        table.add_row(
            str(d.partition),
            str(d.offset),
            d.failed_at or "-",
            d.ce_type or "-",
            d.ce_id or "-",
            d.consumer or "-",
            (d.error or "-")[:80],
            "yes" if d.redriven else "no",
        )
    console.print(table)
    console.print(
        f"{len(letters)} dead letters, {sum(not d.redriven for d in letters)} not redriven"
    )


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Annotated[str, typer.Argument(help="The topic, or its .dlq twin.")],
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (else only count).")] = False,
) -> None:
    """Publish dead letters back to their topic, oldest first, each once (fix the cause first)."""
    bootstrap = target().kafka()
    if not yes:
        letters = asyncio.run(kafka_ops.dead_letters(bootstrap, topic))
        waiting = sum(not d.redriven for d in letters)
        console.print(f"{waiting} dead letters would be redriven; add --yes to do it")
        return
    with _progress() as progress:
        task = progress.add_task("redriving", total=None)  # redrive tells the total

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            sent = asyncio.run(kafka_ops.redrive(bootstrap, topic, limit=limit, progress=advance))
        except kafka_ops.Refused as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    console.print(f"redrove {sent} dead letters")


@app.command()
def replay(
    group: Annotated[
        str, typer.Argument(help="The consumer group to rewind (its consumers stopped).")
    ],
    topic: Annotated[str, typer.Option(help="The topic to replay.")] = "booking.events",
    from_offset: Annotated[int | None, typer.Option(min=0)] = None,
    from_time: Annotated[datetime | None, typer.Option(help="ISO 8601, with a timezone.")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Move the offsets (else only show the plan).")
    ] = False,
) -> None:
    """Rewind a consumer group on a topic: to the beginning (default), an offset or a time.
    The group's consumers must be stopped; they read again from there when started."""
    if from_offset is not None and from_time is not None:
        err.print("give --from-offset or --from-time, not both")
        raise typer.Exit(1)
    if from_time is not None and from_time.tzinfo is None:
        err.print("--from-time needs a timezone, e.g. 2026-11-21T09:00:00+00:00")
        raise typer.Exit(1)
    try:
        resets = asyncio.run(
            kafka_ops.reset_offsets(
                target().kafka(), group, topic, to_offset=from_offset, to_time=from_time, apply=yes
            )
        )
    except kafka_ops.Refused as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    table = Table("partition", "committed", "replay from")
    for r in resets:
        table.add_row(str(r.partition), "-" if r.before is None else str(r.before), str(r.after))
    console.print(table)
    console.print(
        f"{group} on {topic}: "
        + ("offsets moved" if yes else "plan only; add --yes to move the offsets")
    )


def main() -> None:
    try:
        app()
    except NotConfigured as exc:
        err.print(str(exc))
        raise SystemExit(2) from None
