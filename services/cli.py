"""`hearth`: run, migrate and administer Hearth."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from services.demo.command import demo as demo_command
from services.embedded import DEV_TENANT, distributed_host, embedded_host, sqlite_url
from services.registry import SERVICES
from shared.api.auth import UnknownScopes
from shared.bus.port import Bus, BusUnavailable
from shared.db.engine import Database
from shared.db.migrations import autogenerate, upgrade
from shared.events.schema import render_docs, write_docs
from shared.observability.logging import LOG_FORMATS, configure_logging, resolve_log_format
from shared.settings import ServiceSettings
from shared.tenancy.repository import (
    KeyInfo,
    TenantExists,
    UnknownTenant,
    create_key,
    create_tenant,
    delete_tenant,
    list_keys,
    migrate_tenancy,
    revoke_key,
    tenant_exists,
)

app = typer.Typer(
    help="Hearth: a self-hosted backend for online communities.", no_args_is_help=True
)
admin = typer.Typer(help="Tenants and API keys.", no_args_is_help=True)
app.add_typer(admin, name="admin")
dlq = typer.Typer(help="Dead letters: list them, re-drive them after a fix.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
console = Console(stderr=True)

VERSION = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
DataDir = Annotated[Path, typer.Option(help="Where the embedded mode keeps its SQLite files.")]


LogFormat = Annotated[
    str,
    typer.Option(
        envvar="HEARTH_LOG_FORMAT",
        help="auto (coloured lines on a terminal, JSON otherwise) | json | console",
    ),
]
# Startup chatter a newcomer does not need at INFO: a record per migration, uvicorn's
# banner. `--log-level DEBUG` shows them again.
STARTUP_LOGGERS = ("alembic", "uvicorn.error")
log = logging.getLogger("hearth.cli")


def _configure_logging(level: str, log_format: str) -> str:
    """Configure logging; return the format chosen (json or console)."""
    if log_format not in LOG_FORMATS:
        console.print(f"[red]--log-format {log_format!r}[/]: choose from {', '.join(LOG_FORMATS)}")
        raise typer.Exit(2)
    configure_logging(level, log_format=log_format)
    return resolve_log_format(log_format)


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    data_dir: DataDir = Path(".hearth"),
    log_level: str = "INFO",
    log_format: LogFormat = "auto",
) -> None:
    """Run all four services in one process: durable bus and databases in SQLite, ./.hearth/."""
    chosen = _configure_logging(log_level, log_format)
    if logging.getLevelName(log_level.upper()) != logging.DEBUG:
        for name in STARTUP_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    asyncio.run(_bootstrap_dev(data_dir))
    hosted = embedded_host(data_dir)
    hosted.on_started = lambda started: _print_ready(started, host, port, data_dir, chosen)
    uvicorn.run(hosted.create_app(), host=host, port=port, log_config=None, access_log=False)


def _print_ready(host: object, address: str, port: int, data_dir: Path, chosen: str) -> None:
    """Say in a few lines where everything is, once every service started."""
    base = f"http://{address}:{port}"
    where = {
        "api": f"{base}/v1/",
        "docs": f"{base}/docs",
        "metrics": f"{base}/metrics",
        "key_file": str(data_dir.resolve() / "dev-api-key"),
        "data_dir": str(data_dir.resolve()),
    }
    services = [hosted.spec.name for hosted in getattr(host, "services", [])]
    if chosen == "json":
        log.info("hearth is ready", extra={**where, "services": services, "tenant": DEV_TENANT})
        return
    console.print(f"[bold green]Hearth is ready[/]: {', '.join(services)} in one process")
    for label, key in (("API", "api"), ("Docs", "docs"), ("Metrics", "metrics")):
        console.print(f"  {label:<8} [cyan]{where[key]}[/]")
    console.print(f"  {'Key':<8} {where['key_file']}  (tenant {DEV_TENANT}, scope admin)")
    console.print(f"  {'Data':<8} {where['data_dir']}")
    console.print("  Stop with Ctrl+C; what was acknowledged is kept for the next start.")


async def _bootstrap_dev(data_dir: Path) -> None:
    """On the first start, create tenant `dev` and an admin key; print and save the key."""
    db = Database(sqlite_url(data_dir / "hearth.db"), schema="hearth")
    try:
        await migrate_tenancy(db)
        if await tenant_exists(db, DEV_TENANT):
            return
        await create_tenant(db, DEV_TENANT, "Development")
        key = await create_key(db, tenant_id=DEV_TENANT, name="dev admin", scopes=["admin"])
    finally:
        await db.dispose()
    key_file = data_dir / "dev-api-key"
    key_file.write_text(key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    log.info(
        "created tenant %s and an admin API key; it is printed once, on stdout",
        DEV_TENANT,
        extra={"key_file": str(key_file.resolve())},
    )
    print(key, flush=True)


# `hearth demo`: services/demo/command.py (imports the services only when run).
app.command()(demo_command)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="ingest | moderation | gamification | insights")],
    host: Annotated[str | None, typer.Option(help="Overrides HEARTH_<SERVICE>_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides HEARTH_<SERVICE>_PORT.")] = None,
    log_format: LogFormat = "auto",
) -> None:
    """Run one service on Kafka and PostgreSQL (the distributed mode)."""
    serve_service(service, host=host, port=port, log_format=log_format)


def serve_service(
    service: str, *, host: str | None = None, port: int | None = None, log_format: str = "auto"
) -> None:
    """Run one service until interrupted."""
    if service not in SERVICES:
        console.print(f"[red]unknown service {service!r}[/]; choose from {', '.join(SERVICES)}")
        raise typer.Exit(2)
    settings = _settings_of(service)
    _configure_logging(settings.log_level, log_format)
    hosted = distributed_host(
        service,
        database_url=settings.database.url,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
        linger_ms=settings.kafka.linger_ms,
        delivery_timeout_ms=settings.kafka.delivery_timeout_ms,
    )
    uvicorn.run(
        hosted.create_app(),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        # requests still open on SIGTERM get this long; then the host stops (shared/host.py)
        timeout_graceful_shutdown=5,
    )


def _settings_of(service: str) -> ServiceSettings:
    module = importlib.import_module(f"services.{service}.settings")
    settings: ServiceSettings = module.Settings()
    return settings


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help="a service name, or all")] = "all",
    database_url: Annotated[str | None, typer.Option(envvar="DATABASE_URL")] = None,
) -> None:
    """Apply database migrations (PostgreSQL: one schema per service)."""
    names = list(SERVICES) if service == "all" else [service]
    url = database_url or _settings_of(names[0]).database.url

    async def run() -> None:
        tenancy = Database(url, schema="hearth")
        await migrate_tenancy(tenancy)
        await tenancy.dispose()
        for name in names:
            db = Database(url, schema=name)
            await upgrade(db, SERVICES[name].migrations)
            await db.dispose()
            console.print(f"migrated [bold]{name}[/]")

    asyncio.run(run())


@app.command()
def makemigration(
    service: Annotated[str, typer.Argument(help="ingest | moderation | gamification | insights")],
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision changes")],
    database_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL to compare on (a throwaway schema); default: SQLite"),
    ] = None,
) -> None:
    """Write a migration revision from the difference between tables.py and the migrations."""
    if service not in SERVICES:
        console.print(f"[red]unknown service {service!r}[/]; choose from {', '.join(SERVICES)}")
        raise typer.Exit(2)
    migrations = SERVICES[service].migrations
    written = asyncio.run(autogenerate(migrations, message, database_url=database_url))
    if written is None:
        console.print(f"[yellow]no changes:[/] {service}'s migrations match its tables.py")
        raise typer.Exit(1)
    console.print(f"wrote {written} — read it before you commit it")


@app.command()
def schema(
    check: Annotated[bool, typer.Option(help="Fail if docs/ differs from the code.")] = False,
    docs_dir: Path = REPO_ROOT / "docs",
) -> None:
    """Write JSON Schema and the AsyncAPI document for every topic into docs/."""
    if check:
        stale = [
            relative
            for relative, text in render_docs(VERSION).items()
            if not (docs_dir / relative).exists()
            or (docs_dir / relative).read_text(encoding="utf-8") != text
        ]
        if stale:
            console.print(f"[red]out of date:[/] {', '.join(stale)} — run `hearth schema`")
            raise typer.Exit(1)
        console.print("event contracts are up to date")
        return
    for path in write_docs(docs_dir, VERSION):
        console.print(f"wrote {path}")


@app.command("import")
def import_history(
    file: Annotated[
        Path,
        typer.Argument(
            help="Telegram Desktop result.json, Slack export .zip, or DiscordChatExporter .json",
            exists=True,
            dir_okay=False,
        ),
    ],
    community: Annotated[str, typer.Option(help="Community id the history belongs to")],
    api_url: Annotated[
        str, typer.Option(envvar="HEARTH_API_URL", help="Where ingest answers")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="HEARTH_API_KEY", help="Key with events:write (default: the dev key)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
    state_dir: Annotated[
        Path, typer.Option(help="Where progress is kept so a rerun resumes")
    ] = Path(".hearth/imports"),
    since: Annotated[
        str | None,
        typer.Option(help="Only events at or after this ISO 8601 time (no offset: UTC)"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only events before this ISO 8601 time (no offset: UTC)"),
    ] = None,
) -> None:
    """Import a community's history as backfilled events; resumable and idempotent."""
    from services.ingest.importer import ImportFailed, parse_bound, run_import

    key = api_key or _dev_key()
    try:
        report = run_import(
            file,
            community_id=community,
            api_url=api_url,
            api_key=key,
            batch_size=batch_size,
            state_dir=state_dir,
            console=console,
            since=parse_bound(since, "since"),
            until=parse_bound(until, "until"),
        )
    except (ValueError, ImportFailed) as exc:
        console.print(f"[red]import stopped:[/] {exc}")
        raise typer.Exit(1) from None
    if not report.ok:
        raise typer.Exit(2)


def _dev_key() -> str:
    key_file = Path(".hearth/dev-api-key")
    if not key_file.exists():
        console.print("[red]no API key:[/] pass --api-key or set HEARTH_API_KEY")
        raise typer.Exit(1)
    return key_file.read_text(encoding="utf-8").strip()


def _tenancy_db(database_url: str | None, data_dir: Path | None) -> Database:
    if database_url:
        return Database(database_url, schema="hearth")
    return Database(sqlite_url((data_dir or Path(".hearth")) / "hearth.db"), schema="hearth")


DatabaseUrl = Annotated[
    str | None,
    typer.Option(envvar="DATABASE_URL", help="PostgreSQL URL; default: the embedded SQLite."),
]


@admin.command("create-tenant")
def create_tenant_command(
    tenant_id: Annotated[str, typer.Argument(help="Short id, e.g. acme")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """Create a tenant."""

    async def run() -> None:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            await create_tenant(db, tenant_id, name or tenant_id)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except TenantExists:
        console.print(f"[red]tenant {tenant_id!r} already exists[/]")
        raise typer.Exit(1) from None
    console.print(f"created tenant [bold]{tenant_id}[/]")


@admin.command("create-key")
def create_key_command(
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for")],
    scope: Annotated[list[str], typer.Option(help="Scope, repeatable: admin, events:write …")],
    name: Annotated[str, typer.Option(help="What the key is for")] = "api key",
    community: Annotated[
        list[str] | None, typer.Option(help="Restrict to a community id, repeatable")
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """Create an API key; it is printed once and stored only hashed."""

    async def run() -> str:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            return await create_key(
                db, tenant_id=tenant, name=name, scopes=scope, community_ids=community or None
            )
        finally:
            await db.dispose()

    try:
        key = asyncio.run(run())
    except UnknownTenant:
        console.print(f"[red]no tenant {tenant!r}[/]; create it with `hearth admin create-tenant`")
        raise typer.Exit(1) from None
    except UnknownScopes as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print("API key (shown once):")
    sys.stdout.write(key + "\n")


@admin.command("bootstrap")
def bootstrap_command(
    tenant: Annotated[str, typer.Option(help="Tenant to create when it does not exist")] = "main",
    name: Annotated[str, typer.Option(help="What the key is for")] = "bootstrap admin",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """Create the tenant if it is missing and print a new admin key for it (first start)."""

    async def run() -> tuple[bool, str]:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            created = not await tenant_exists(db, tenant)
            if created:
                await create_tenant(db, tenant, tenant)
            return created, await create_key(db, tenant_id=tenant, name=name, scopes=["admin"])
        finally:
            await db.dispose()

    try:
        created, key = asyncio.run(run())
    except TenantExists:  # deleted tenants keep their id
        console.print(f"[red]tenant {tenant!r} was deleted; its id is not reused[/]")
        raise typer.Exit(1) from None
    console.print(
        f"{'created' if created else 'found'} tenant [bold]{tenant}[/]; admin API key (shown once):"
    )
    sys.stdout.write(key + "\n")


@admin.command("list-keys")
def list_keys_command(
    tenant: Annotated[str, typer.Option(help="Tenant whose keys to list")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """List a tenant's API keys (id, name, scopes, communities, revoked); never secrets."""

    async def run() -> list[KeyInfo]:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            return await list_keys(db, tenant)
        finally:
            await db.dispose()

    for info in asyncio.run(run()):
        communities = ",".join(info.community_ids) if info.community_ids is not None else "*"
        state = (
            f"revoked {info.revoked_at:%Y-%m-%d}"
            if info.revoked and info.revoked_at
            else ("revoked" if info.revoked else "active")
        )
        sys.stdout.write(
            f"{info.key_id}\t{state}\t{','.join(info.scopes)}\t{communities}\t{info.name}\n"
        )


@admin.command("revoke-key")
def revoke_key_command(
    key_id: Annotated[str, typer.Argument(help="Key id: the part after hth_ in the key")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """Revoke a key; every replica refuses it from its next request (keys are not cached)."""

    async def run() -> bool:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            return await revoke_key(db, key_id)
        finally:
            await db.dispose()

    if not asyncio.run(run()):
        console.print(f"[red]no key {key_id!r}[/]")
        raise typer.Exit(1)
    console.print(f"revoked key [bold]{key_id}[/]")


@admin.command("delete-tenant")
def delete_tenant_command(
    tenant_id: Annotated[str, typer.Argument(help="Tenant to delete")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = Path(".hearth"),
) -> None:
    """Delete a tenant: it and all its keys are refused from now on; its id is not reused."""
    if not yes:
        typer.confirm(f"Delete tenant {tenant_id!r} and revoke all its keys?", abort=True)

    async def run() -> int:
        db = _tenancy_db(database_url, data_dir)
        try:
            await migrate_tenancy(db)
            return await delete_tenant(db, tenant_id)
        finally:
            await db.dispose()

    try:
        revoked = asyncio.run(run())
    except UnknownTenant:
        console.print(f"[red]no tenant {tenant_id!r}[/]")
        raise typer.Exit(1) from None
    console.print(f"deleted tenant [bold]{tenant_id}[/]; {revoked} key(s) revoked")


# dead letters -------------------------------------------------------------

if TYPE_CHECKING:
    from shared.bus.dlq import DeadLetter

_T = TypeVar("_T")

BootstrapServers = Annotated[
    str | None,
    typer.Option(
        envvar=["HEARTH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"],
        help="Kafka (distributed mode); ignored when --data-dir is given.",
    ),
]
BusDataDir = Annotated[
    Path | None,
    typer.Option(help="The embedded data dir whose bus.db to read (default: ./.hearth)."),
]


def _dlq_bus(bootstrap_servers: str | None, data_dir: Path | None) -> Bus:
    """Kafka when servers are named and no data dir is, else the embedded bus file."""
    if bootstrap_servers and data_dir is None:
        from shared.bus.kafka import KafkaBus
        from shared.bus.settings import KafkaSettings

        kafka = KafkaSettings()
        return KafkaBus(
            bootstrap_servers,
            client_id="hearth-dlq",
            partitions=kafka.partitions,
            replication_factor=kafka.replication_factor,
        )
    from shared.bus.sqlite import SqliteBus

    path = (data_dir or Path(".hearth")) / "bus.db"
    if not path.exists():
        console.print(f"[red]no embedded bus at {path}[/]; pass --data-dir or --bootstrap-servers")
        raise typer.Exit(1)
    return SqliteBus(path)


async def _on_bus(bus: Bus, work: Callable[[Bus], Awaitable[_T]]) -> _T:
    try:
        await bus.start()
        return await work(bus)
    finally:
        await bus.stop()


@dlq.command("list")
def dlq_list(
    group: Annotated[str | None, typer.Option(help="Only this consumer group")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Only dead letters read from this topic")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    bootstrap_servers: BootstrapServers = None,
    data_dir: BusDataDir = None,
) -> None:
    """Show parked events with their error headers; reads without committing anything."""
    from shared.bus.dlq import list_dead_letters

    bus = _dlq_bus(bootstrap_servers, data_dir)
    try:
        letters = asyncio.run(
            _on_bus(bus, lambda b: list_dead_letters(b, group=group, topic=topic))
        )
    except BusUnavailable as exc:
        console.print(f"[red]bus unavailable:[/] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        for letter in letters:
            sys.stdout.write(json.dumps(_letter_json(letter)) + "\n")
        return
    table = Table("id", "type", "read from", "group", "error", "attempts", "replayed")
    for letter in letters:
        where = f"{letter.original_topic}[{_or_dash(letter.original_partition)}]"
        where += f"@{_or_dash(letter.original_offset)}"
        table.add_row(
            letter.id,
            letter.event_type or "-",
            where,
            letter.group or "-",
            f"{letter.error_type}: {letter.error_message}",
            _or_dash(letter.attempts),
            "yes" if letter.replayed else "no",
        )
    Console(width=200).print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq.command("replay")
def dlq_replay(
    group: Annotated[str, typer.Option(help="The consumer group whose dead letters to re-drive")],
    event_id: Annotated[
        list[str] | None,
        typer.Option("--id", help="Only this event id (repeatable); may re-drive one again"),
    ] = None,
    bootstrap_servers: BootstrapServers = None,
    data_dir: BusDataDir = None,
) -> None:
    """Re-publish dead letters to their original topic; without --id, those not re-driven yet."""
    from shared.bus.dlq import UnknownDeadLetter, replay

    bus = _dlq_bus(bootstrap_servers, data_dir)
    try:
        done = asyncio.run(_on_bus(bus, lambda b: replay(b, group=group, ids=event_id or ())))
    except UnknownDeadLetter as exc:
        console.print(f"[red]no dead letter of group {group!r} with id[/] {exc}")
        raise typer.Exit(1) from None
    except BusUnavailable as exc:
        console.print(f"[red]bus unavailable:[/] {exc}")
        raise typer.Exit(1) from None
    for letter in done:
        console.print(f"re-drove {letter.id} to {letter.original_topic}")
    console.print(f"re-drove {len(done)} dead letter(s) of group [bold]{group}[/]")


def _letter_json(letter: DeadLetter) -> dict[str, object]:
    return {
        "id": letter.id,
        "event_id": letter.event_id,
        "event_type": letter.event_type,
        "dlq_topic": letter.record.topic,
        "original_topic": letter.original_topic,
        "original_partition": letter.original_partition,
        "original_offset": letter.original_offset,
        "group": letter.group,
        "error_type": letter.error_type,
        "error_message": letter.error_message,
        "attempts": letter.attempts,
        "replayed": letter.replayed,
    }


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


if __name__ == "__main__":
    app()
