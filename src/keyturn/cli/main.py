"""`keyturn serve | migrate | config get | config patch`: thin over the same services as the web."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvicorn

from keyturn.clock import SystemClock
from keyturn.errors import KeyturnError
from keyturn.operations import tenant_config
from keyturn.runtime import Runtime, build_runtime
from keyturn.settings import Settings, SettingsError, load_settings
from keyturn.store.sql.migrate import current_revision
from keyturn.store.sql.store import open_store

app = typer.Typer(help="Keyturn: a self-hosted, passkey-first identity provider.", no_args_is_help=True)
config_app = typer.Typer(help="Read and change the tenant settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML or TOML config file (or KEYTURN_CONFIG).")
]
T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise _fail(str(exc)) from exc


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_store(settings.resolved_database_url)
        try:
            return await work(await build_runtime(settings, store, SystemClock()))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except KeyturnError as exc:
        raise _fail(exc.description) from exc


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the database.")] = 1,
) -> None:
    """Migrate the database, then serve the hosted pages."""
    settings = _settings(config, host=host, port=port)
    _with_runtime(settings, lambda rt: rt.tenant())  # migrate and seed once, before any worker starts
    # Workers build their own app from the environment: hand them exactly these settings.
    if config is not None:
        os.environ["KEYTURN_CONFIG"] = str(config.resolve())
    os.environ["KEYTURN_HOST"], os.environ["KEYTURN_PORT"] = settings.host, str(settings.port)
    base = settings.base_url
    typer.echo(f"Keyturn on {base}  ({settings.resolved_database_url.split('://')[0]})")
    typer.echo(f"  sign up: {base}/signup")
    typer.echo(f"  sign in: {base}/login")
    uvicorn.run(
        "keyturn.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        proxy_headers=False,
        log_level="info",
    )


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply database migrations (Alembic) to the configured database."""
    settings = _settings(config)

    async def run() -> str | None:
        store = await open_store(settings.resolved_database_url)
        try:
            return await current_revision(store.engine)
        finally:
            await store.close()

    typer.echo(f"database at revision {asyncio.run(run())}")


@config_app.command("get")
def config_get(
    path: Annotated[str | None, typer.Argument(help="JSON Pointer, e.g. /rp/id")] = None,
    config: ConfigOption = None,
) -> None:
    """Print the tenant settings (or the value at PATH) as JSON."""
    settings = _settings(config)
    tenant = _with_runtime(settings, lambda rt: rt.tenant())
    try:
        value = tenant_config.read_path(tenant, path)
    except KeyturnError as exc:
        raise _fail(exc.description) from exc
    typer.echo(json.dumps(value, indent=2))


@config_app.command("patch")
def config_patch(
    add: Annotated[list[str] | None, typer.Option("--add", help="/path=value")] = None,
    replace: Annotated[list[str] | None, typer.Option("--replace", help="/path=value")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="/path")] = None,
    force: Annotated[bool, typer.Option(help="Allow an rp.id change that orphans passkeys.")] = False,
    config: ConfigOption = None,
) -> None:
    """Change tenant settings with JSON Pointer operations; a bad patch changes nothing."""
    settings = _settings(config)
    try:
        operations = [
            *(tenant_config.parse_assignment("add", a) for a in add or []),
            *(tenant_config.parse_assignment("replace", r) for r in replace or []),
            *(tenant_config.parse_assignment("remove", r) for r in remove or []),
        ]
    except KeyturnError as exc:
        raise _fail(exc.description) from exc
    if not operations:
        raise _fail("nothing to patch: give --add, --replace or --remove")
    tenant = _with_runtime(settings, lambda rt: tenant_config.patch_tenant(rt, operations, force=force))
    typer.echo(json.dumps(tenant.model_dump(mode="json"), indent=2))
