"""`keyturn serve | migrate | config | clients | keys | hooks | logs`: thin over the same services."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.events import Event
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError, NotFound
from keyturn.http.templates import require_valid_overrides
from keyturn.log_config import configure_logging
from keyturn.mail.outbox import send_now
from keyturn.mail.render import render
from keyturn.mail.transports import DeliveryError
from keyturn.management.shapes import log_out
from keyturn.operations import admins, blocks, clients, hooks, identity_schema, keys, mds, tenant_config
from keyturn.operations.audit import CLI
from keyturn.operations.logs import EventTail
from keyturn.passkeys.aaguid import provider_name
from keyturn.serving import serve_forever
from keyturn.settings import Settings, SettingsError, load_settings
from keyturn.store.sql.migrate import current_revision
from keyturn.store.sql.store import open_database
from keyturn.wiring import command_context, open_runtime, publish_public_url, with_served_public_url

log = logging.getLogger("keyturn")
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


def _run(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    """Run one command in its own `Context`, against the public URL `serve` published."""

    async def run() -> T:
        rt = await open_runtime(await with_served_public_url(settings))
        try:
            async with command_context(rt) as ctx:
                return await work(ctx)
        finally:
            await rt.close()

    try:
        return asyncio.run(run())
    except KeyturnError as exc:
        raise _fail(exc.description) from exc


def _origin_warning(ctx: Context) -> str | None:
    """Every ceremony fails with origin_mismatch when Keyturn is served at an origin the RP does
    not list: say so at start, with the exact command that fixes it."""
    base = ctx.settings.base_url
    if base in ctx.tenant.rp.accepted_origins:
        return None
    fix = f"keyturn config patch --add /rp/origins/-={base}"
    return (
        f"{base} is not in rp.origins {ctx.tenant.rp.origins}: passkey ceremonies there will fail "
        f"with origin_mismatch. Add it with:  {fix}"
    )


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the database.")] = 1,
) -> None:
    """Migrate the database, then serve the hosted pages."""
    settings = _settings(config, host=host, port=port)
    configure_logging(log_format=settings.log_format, level=settings.log_level)

    async def prepare() -> str | None:  # migrate, seed and publish once, before any worker starts
        require_valid_overrides(settings)
        rt = await open_runtime(settings)
        try:
            await publish_public_url(rt)
            async with command_context(rt) as ctx:
                return _origin_warning(ctx)
        finally:
            await rt.close()

    try:
        warning = asyncio.run(prepare())
    except (KeyturnError, SettingsError) as exc:
        raise _fail(getattr(exc, "description", str(exc))) from exc
    # Workers build their own app from the environment: hand them exactly these settings.
    if config is not None:
        os.environ["KEYTURN_CONFIG"] = str(config.resolve())
    os.environ["KEYTURN_HOST"], os.environ["KEYTURN_PORT"] = settings.host, str(settings.port)
    base = settings.base_url
    log.info(
        "Keyturn on %s (%s)  sign up: %s/signup  sign in: %s/login",
        base,
        settings.resolved_database_url.split("://")[0],
        base,
        base,
    )
    if warning:
        log.warning(warning)
    serve_forever(
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_format=settings.log_format,
        log_level=settings.log_level,
    )


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply database migrations (Alembic) to the configured database."""
    settings = _settings(config)

    async def run() -> str | None:
        db = await open_database(settings.resolved_database_url)
        try:
            return await current_revision(db.engine)
        finally:
            await db.close()

    typer.echo(f"database at revision {asyncio.run(run())}")


@config_app.command("get")
def config_get(
    path: Annotated[str | None, typer.Argument(help="JSON Pointer, e.g. /rp/id")] = None,
    config: ConfigOption = None,
) -> None:
    """Print the tenant settings (or the value at PATH) as JSON."""
    settings = _settings(config)
    tenant = _run(settings, _tenant_of)
    try:
        value = tenant_config.read_path(tenant, path)
    except KeyturnError as exc:
        raise _fail(exc.description) from exc
    typer.echo(json.dumps(value, indent=2))
    _name_models(tenant)


def _name_models(tenant: TenantSettings) -> None:
    """The AAGUID allow- and deny-lists with their providers' names, on stderr (stdout stays JSON)."""
    options = tenant.passkey_options
    for setting, aaguids in (
        ("aaguid_allowlist", options.aaguid_allowlist),
        ("aaguid_denylist", options.aaguid_denylist),
    ):
        for aaguid in aaguids:
            typer.echo(f"{setting}: {aaguid} {provider_name(aaguid) or '(not in the AAGUID list)'}", err=True)


@config_app.command("patch")
def config_patch(
    add: Annotated[list[str] | None, typer.Option("--add", help="/path=value")] = None,
    replace: Annotated[list[str] | None, typer.Option("--replace", help="/path=value")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="/path")] = None,
    force: Annotated[
        bool, typer.Option(help="Allow an rp.id change that orphans passkeys, or a schema users fail.")
    ] = False,
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
    tenant = _run(settings, lambda ctx: tenant_config.patch_tenant(ctx, operations, actor=CLI, force=force))
    typer.echo(json.dumps(tenant.model_dump(mode="json"), indent=2))
    for warning in tenant.branding.warnings():  # stored, but worth a second look
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    _name_models(tenant)


PASSKEY_TYPES_HELP = "Passkeys that may sign in to it: any, device_bound (BE=0) or synced."
clients_app = typer.Typer(help="Register and inspect OpenID Connect clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage the OIDC signing keys.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option("--name", help="Shown on consent pages.")],
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Exact redirect URI.")
    ] = None,
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option("--post-logout-redirect-uri")] = None,
    public: Annotated[
        bool, typer.Option("--public", help="No secret; PKCE required (SPAs, native apps).")
    ] = False,
    first_party: Annotated[bool, typer.Option("--first-party", help="Skip the consent page.")] = False,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", help="Grant types (default: code + refresh).")
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scopes client_credentials may ask for.")
    ] = None,
    audience: Annotated[
        list[str] | None, typer.Option("--audience", help="APIs it may get tokens for.")
    ] = None,
    auth_method: Annotated[
        str | None, typer.Option("--auth-method", help="client_secret_basic|post|private_key_jwt")
    ] = None,
    jwks_file: Annotated[Path | None, typer.Option("--jwks", help="JWKS file (private_key_jwt).")] = None,
    id_token_alg: Annotated[str, typer.Option("--id-token-alg", help="ES256 or RS256.")] = "ES256",  # noqa: S107
    passkey_types: Annotated[str, typer.Option("--passkey-types", help=PASSKEY_TYPES_HELP)] = "any",
    mfa: Annotated[
        str | None,
        typer.Option("--mfa", help="never|optional|required: overrides mfa.policy for this client."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    config: ConfigOption = None,
) -> None:
    """Register a client; its secret is printed once and never stored in the clear."""
    settings = _settings(config)
    jwks = None
    if jwks_file is not None:
        try:
            jwks = clients.load_jwks(jwks_file.read_text())
        except (OSError, KeyturnError) as exc:
            raise _fail(f"--jwks {jwks_file}: {getattr(exc, 'description', exc)}") from exc
    new = _run(
        settings,
        lambda ctx: clients.register_client(
            ctx,
            actor=CLI,
            name=name,
            redirect_uris=redirect_uri or [],
            post_logout_redirect_uris=post_logout_redirect_uri or [],
            public=public,
            first_party=first_party,
            grant_types=grant,
            scopes=scope,
            audiences=audience,
            auth_method=auth_method,
            jwks=jwks,
            id_token_alg=id_token_alg,
            allowed_credential_types=passkey_types,
            mfa=mfa,
        ),
    )
    if as_json:
        typer.echo(json.dumps({"client_id": new.client.client_id, "client_secret": new.secret}))
        return
    typer.echo(f"client_id:     {new.client.client_id}")
    if new.secret:
        typer.echo(f"client_secret: {new.secret}   (shown once: store it now)")


@clients_app.command("update")
def clients_update(
    client_id: str,
    passkey_types: Annotated[str | None, typer.Option("--passkey-types", help=PASSKEY_TYPES_HELP)] = None,
    config: ConfigOption = None,
) -> None:
    """Change a registered client (its passkey policy); prints it as JSON."""
    updated = _run(
        _settings(config),
        lambda ctx: clients.update_client(ctx, client_id, actor=CLI, allowed_credential_types=passkey_types),
    )
    typer.echo(json.dumps(clients.describe_client(updated), indent=2))


@clients_app.command("list")
def clients_list(config: ConfigOption = None) -> None:
    """List registered clients as JSON."""
    found = _run(_settings(config), _list_clients)
    typer.echo(json.dumps([clients.describe_client(c) for c in found], indent=2))


@clients_app.command("show")
def clients_show(client_id: str, config: ConfigOption = None) -> None:
    """Show one client as JSON."""
    found = _run(_settings(config), lambda ctx: _get_client(ctx, client_id))
    if found is None:
        raise _fail(f"no client {client_id!r}")
    typer.echo(json.dumps(clients.describe_client(found), indent=2))


@clients_app.command("delete")
def clients_delete(client_id: str, config: ConfigOption = None) -> None:
    """Delete a client, with its grants, codes and consents."""
    _run(_settings(config), lambda ctx: clients.delete_client(ctx, client_id, actor=CLI))
    typer.echo(f"deleted {client_id}")


@keys_app.command("rotate")
def keys_rotate(config: ConfigOption = None) -> None:
    """Add new ES256 and RS256 signing keys; retired ones stay in the JWKS until their tokens expire."""
    created = _run(_settings(config), lambda ctx: keys.rotate_signing_keys(ctx, actor=CLI))
    for key in created:
        typer.echo(f"new {key.alg} key {key.kid}")


blocks_app = typer.Typer(help="Brute-force blocks: list and remove them.", no_args_is_help=True)
app.add_typer(blocks_app, name="blocks")
BlockUser = Annotated[str | None, typer.Option("--user-id", help="Every block of this user's email.")]
BlockIdentifier = Annotated[str | None, typer.Option("--identifier", help="An email as typed at sign-in.")]


def _block_target(user_id: str | None, identifier: str | None) -> dict[str, str]:
    if (user_id is None) == (identifier is None):
        raise _fail("name exactly one of --user-id and --identifier")
    return {"user_id": user_id} if user_id is not None else {"identifier": identifier or ""}


@blocks_app.command("list")
def blocks_list(
    user_id: BlockUser = None, identifier: BlockIdentifier = None, config: ConfigOption = None
) -> None:
    """The live blocks, as /api/v2/user-blocks answers."""
    target = _block_target(user_id, identifier)

    async def work(ctx: Context) -> dict[str, Any]:
        return blocks.blocked_for(await blocks.list_blocks(ctx, **target))

    typer.echo(json.dumps(_run(_settings(config), work), indent=2))


@blocks_app.command("remove")
def blocks_remove(
    user_id: BlockUser = None, identifier: BlockIdentifier = None, config: ConfigOption = None
) -> None:
    """Unblock: the identifier may sign in with its password again from every address."""
    target = _block_target(user_id, identifier)
    removed = _run(_settings(config), lambda ctx: blocks.remove_blocks(ctx, actor=CLI, **target))
    typer.echo(f"removed {removed} block{'s' if removed != 1 else ''}")


mds_app = typer.Typer(
    help="The FIDO Metadata Service blob attestation is checked against.", no_args_is_help=True
)
app.add_typer(mds_app, name="mds")


@mds_app.command("update")
def mds_update(
    file: Annotated[Path, typer.Option("--file", help="An MDS3 blob (the JWT from mds3.fidoalliance.org).")],
    config: ConfigOption = None,
) -> None:
    """Verify a blob's signature chain and store it for every worker and instance."""
    try:
        blob = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from exc

    async def work(ctx: Context) -> StoredMetadataBlob:
        try:
            return await mds.update_metadata(ctx, blob, actor=CLI)
        except KeyturnError as error:
            if error.code == "mds_blob_invalid" and error.detail:
                raise _fail(f"{error.description} ({error.detail})") from error
            raise

    stored = _run(_settings(config), work)
    typer.echo(
        f"stored MDS blob serial {stored.serial}: {stored.entry_count} entries, "
        f"next update {stored.next_update}"
    )


@mds_app.command("status")
def mds_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False, config: ConfigOption = None
) -> None:
    """The stored blob's serial, nextUpdate and entry count."""
    status = _run(_settings(config), mds.metadata_status)
    if as_json:
        typer.echo(json.dumps(status.as_json(), indent=2))
    elif status.stored is None:
        typer.echo("no MDS blob stored: run keyturn mds update --file blob.jwt")
    else:
        s = status.stored
        typer.echo(f"serial: {s.serial}")
        typer.echo(
            f"next update: {s.next_update}{'  (overdue: fetch a newer blob)' if status.overdue else ''}"
        )
        typer.echo(f"entries: {s.entry_count}")
        typer.echo(f"stored at: {s.stored_at:%Y-%m-%d %H:%M} UTC")


users_app = typer.Typer(help="End users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("validate")
def users_validate(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """List the users whose traits fail the identity schema (exit 1 when there are any)."""

    async def work(ctx: Context) -> list[identity_schema.InvalidUser]:
        return await identity_schema.invalid_users(ctx, ctx.tenant.identity)

    broken = _run(_settings(config), work)
    for user in broken:
        if as_json:
            typer.echo(json.dumps(user.as_json()))
        else:
            problems = "; ".join(f"{trait}: {text}" for trait, text in user.by_trait().items())
            typer.echo(f"{user.user_id}  {user.email}  {problems}")
    typer.echo(f"{len(broken)} invalid user{'s' if len(broken) != 1 else ''}", err=True)
    if broken:
        raise typer.Exit(code=1)


admin_app = typer.Typer(help="The dashboard's operators (/admin).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option("--email", help="The operator's email address.")],
    role: Annotated[str, typer.Option("--role", help="owner (everything) or viewer (read-only).")] = "owner",
    config: ConfigOption = None,
) -> None:
    """Add an operator and print their one-time enrollment link (15 minutes, single use)."""
    link = _run(_settings(config), lambda ctx: admins.create_operator(ctx, email, role, actor=CLI))
    typer.echo(f"operator {link.operator.email} ({link.operator.role}) created")
    typer.echo(f"enrollment link (works once, until {link.enrollment.expires_at:%Y-%m-%d %H:%M} UTC):")
    typer.echo(link.url)


mail_app = typer.Typer(help="Email: check that Keyturn can send it.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")


@mail_app.command("test")
def mail_test(
    to: Annotated[str, typer.Option("--to", help="Where to send the test message.")],
    config: ConfigOption = None,
) -> None:
    """Send a test message now (not through the outbox) and print the outcome."""
    settings = _settings(config)

    async def send(ctx: Context) -> str:
        address = normalize_email(to)
        mail = render(ctx, "test", to_address=address)
        try:
            await send_now(ctx.rt, mail, display_name=ctx.tenant.rp.display_name)
        except DeliveryError as error:
            raise KeyturnError(code="email_not_sent", reason=str(error)) from error
        return address

    address = _run(settings, send)
    where = settings.resolved_outbox_dir if settings.email.transport == "file" else settings.email.smtp_host
    typer.echo(f"sent a test message to {address} through {settings.email.transport} ({where})")


hooks_app = typer.Typer(
    help="Hooks: URLs called before a sign-up and after each sign-in.", no_args_is_help=True
)
logs_app = typer.Typer(help="The event log.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")
app.add_typer(logs_app, name="logs")


@hooks_app.command("add")
def hooks_add(
    url: Annotated[str, typer.Option("--url", help="Where Keyturn POSTs the signed event.")],
    trigger: Annotated[
        str, typer.Option("--trigger", help="post-login or pre-user-registration")
    ] = "post-login",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for an answer.")] = 2.0,
    on_failure: Annotated[
        str, typer.Option("--on-failure", help="deny or allow when the hook fails.")
    ] = "deny",
    config: ConfigOption = None,
) -> None:
    """Register a hook; prints its signing secret once."""
    new = _run(
        _settings(config),
        lambda ctx: hooks.add_hook(
            ctx, actor=CLI, trigger=trigger, url=url, timeout_seconds=timeout, failure_policy=on_failure
        ),
    )
    typer.echo(json.dumps({**hooks.describe_hook(new.hook), "secret": new.secret}, indent=2))


@hooks_app.command("list")
def hooks_list(config: ConfigOption = None) -> None:
    found = _run(_settings(config), _list_hooks)
    typer.echo(json.dumps([hooks.describe_hook(h) for h in found], indent=2))


@hooks_app.command("delete")
def hooks_delete(hook_id: str, config: ConfigOption = None) -> None:
    _run(_settings(config), lambda ctx: _delete_hook(ctx, hook_id))
    typer.echo(f"deleted {hook_id}")


@logs_app.command("tail")
def logs_tail(
    last: Annotated[int, typer.Option("--last", help="Also print this many earlier events first.")] = 10,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Follow the event log live (every worker and instance writes to the same database)."""
    settings = _settings(config)

    async def follow() -> None:
        db = await open_database(settings.resolved_database_url)
        tail = EventTail()
        try:
            async with db.read() as reader:
                for event in await tail.start(reader, last=last):
                    _print_event(event, as_json=as_json)
            while True:
                async with db.read() as reader:
                    for event in await tail.poll(reader):
                        _print_event(event, as_json=as_json)
                await asyncio.sleep(interval)
        finally:
            await db.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow())


async def _tenant_of(ctx: Context) -> Any:
    return ctx.tenant


async def _list_clients(ctx: Context) -> list[Any]:
    return await (await ctx.read()).list_clients()


async def _get_client(ctx: Context, client_id: str) -> Any:
    return await (await ctx.read()).get_client(client_id)


async def _delete_hook(ctx: Context, hook_id: str) -> None:
    try:
        await hooks.delete_hook(ctx, hook_id, actor=CLI)
    except NotFound as exc:
        raise NotFound(code="inexistent_hook", message="inexistent_hook.id", hook_id=hook_id) from exc


async def _list_hooks(ctx: Context) -> list[Any]:
    return await (await ctx.read()).list_hooks()


def _print_event(event: Event, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(log_out(event).model_dump(mode="json")), nl=True)
    else:
        who = event.user_name or event.user_id or event.client_id or "-"
        when = event.date.isoformat(timespec="seconds")
        typer.echo(f"{when}  {event.type.value:<26} {who:<32} {event.description}")
    sys.stdout.flush()
