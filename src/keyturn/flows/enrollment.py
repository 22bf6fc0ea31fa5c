"""Passkeys offered right after a sign-in: progressive and local enrollment.

- **Progressive** (`passkey_options.progressive_enrollment_enabled`): a password sign-in of a
  user with no passkey is followed by an offer. In mode `automatic` or `both` the page first
  asks the browser's password manager for a conditional create (the automatic upgrade: no
  prompt, and the one creation whose answer may lack user presence, within a minute of the
  sign-in: `keyturn.methods.passkey.silent_creation_allowed`); in `prompt` or `both` it shows
  **Create a passkey**, **Not now** (snoozed for `progressive_enrollment_snooze_days`) and
  **Don't ask again**, stored per user (`enrollment_choices`).
- **Local** (`passkey_options.local_enrollment_enabled`): a sign-in with a passkey from another
  device (the browser reports `authenticatorAttachment: "cross-platform"`, as after a QR code,
  for a passkey that travels over the hybrid transport: `methods.passkey.is_cross_device`) is
  followed by **Create a passkey on this device**, with the same two answers, remembered by
  this browser (a long-lived cookie: the question is about the device, not the user).

An offer is a flow of kind "progressive" or "local" (sealed, bound to the browser, its
`created_at` the sign-in's time, `return_to` where the sign-in was going, the OIDC resume
included). It never blocks: the page's script goes on to `return_to` on any failure or
cancel, and when the browser cannot create a passkey. It is never made inside OIDC
`prompt=none` (which never shows a page), nor to a user who already has a passkey
(progressive), nor when the browser said it cannot create one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

from keyturn.context import Context
from keyturn.domain.enrollment import EnrollmentChoice
from keyturn.domain.events import EventType
from keyturn.domain.flow import EnrollmentKind, Flow
from keyturn.domain.identity import Passkey, User
from keyturn.errors import KeyturnError
from keyturn.flows import account
from keyturn.flows.base import flow_token, start_flow
from keyturn.flows.parked import load_parked
from keyturn.flows.sessions import SignedIn
from keyturn.methods.base import Authenticated, require_enabled
from keyturn.methods.passkey import SILENT_CREATION_WINDOW, creation_options, passkeys_below_limit
from keyturn.methods.registry import PASSKEY

OFFER_KINDS: frozenset[EnrollmentKind] = frozenset(("progressive", "local"))
OFFER_PATH = "/enroll/"  # + the offer's flow token: the page shown after the sign-in
Choice = Literal["not_now", "never"]
CHOICES: tuple[Choice, ...] = ("not_now", "never")
# Local enrollment's answer, kept by the browser: "never", or "until:<unix seconds>".
DEVICE_NEVER = "never"
_DEVICE_UNTIL = "until:"
DEVICE_CHOICE_MAX_AGE = 400 * 86_400  # the longest a browser keeps a cookie


# --- whether to offer, after a sign-in ---------------------------------------------------


def device_allows_offer(value: str | None, ctx: Context) -> bool:
    """This browser's answer to local enrollment (its cookie): none, or a snooze now past."""
    if not value:
        return True
    if value == DEVICE_NEVER:
        return False
    seconds = value.removeprefix(_DEVICE_UNTIL)
    if value.startswith(_DEVICE_UNTIL) and seconds.isdigit() and len(seconds) <= 12:
        return ctx.now().timestamp() >= int(seconds)
    return True  # not a value Keyturn wrote: as if there were none


async def _offer_kind(
    ctx: Context, flow: Flow, authenticated: Authenticated, *, device_choice: str | None
) -> EnrollmentKind | None:
    options = ctx.tenant.passkey_options
    user = authenticated.user
    if authenticated.method == "password" and options.progressive_enrollment_enabled:
        reader = await ctx.read()
        if await reader.list_passkeys(user.id):
            return None
        choice = await reader.get_enrollment_choice(user.id)
        return "progressive" if choice is None or choice.allows_offer(ctx.now()) else None
    local = authenticated.cross_device and options.local_enrollment_enabled
    if local and device_allows_offer(device_choice, ctx):
        passkeys = await (await ctx.read()).list_passkeys(user.id)
        return "local" if len(passkeys) < options.max_passkeys_per_user else None
    return None


async def offer_after_sign_in(
    ctx: Context,
    flow: Flow,
    signed_in: SignedIn,
    authenticated: Authenticated,
    *,
    can_create: bool,
    binding_token: str | None,
    device_choice: str | None,
) -> SignedIn:
    """The sign-in, sent through a passkey offer first when one is due (else unchanged).

    `can_create` is the login page's feature detection (a platform authenticator is there):
    a browser that cannot create a passkey on this device goes straight on.
    """
    if not can_create or binding_token is None or not PASSKEY.enabled(ctx.tenant):
        return signed_in
    kind = await _offer_kind(ctx, flow, authenticated, device_choice=device_choice)
    if kind is None:
        return signed_in
    parked = await load_parked(ctx, flow.authorization_request_id, binding_token=binding_token)
    if parked is not None and "none" in parked.request.prompt:
        return signed_in  # prompt=none shows no page, ever
    offer = start_flow(
        ctx,
        kind,
        binding_token=binding_token,
        methods=(PASSKEY.id,),
        user_id=authenticated.user.id,
        authorization_request_id=flow.authorization_request_id,
        return_to=signed_in.redirect_to,
    )
    # What the dashboard's conversion counts against: offers made, beside passkeys created.
    ctx.record(
        EventType.ENROLLMENT_OFFERED,
        user_id=authenticated.user.id,
        user_name=authenticated.user.email,
        details={"enrollment": kind},
    )
    return replace(signed_in, redirect_to=OFFER_PATH + flow_token(ctx, offer))


# --- the offer's page and what it does ------------------------------------------------------


def next_url(offer: Flow) -> str:
    """Where the sign-in was going (the OIDC resume, `return_to` or /account)."""
    return offer.return_to or "/account"


def automatic_upgrade_offered(ctx: Context, offer: Flow) -> bool:
    """Whether the page may try the conditional create: progressive, its mode allows it, and
    the password sign-in is recent enough for the answer to be accepted."""
    return (
        offer.kind == "progressive"
        and ctx.tenant.passkey_options.enrollment_automatic
        and ctx.now() - offer.created_at <= SILENT_CREATION_WINDOW
    )


def offer_page(ctx: Context, offer: Flow) -> dict[str, Any]:
    """What the page's script needs: which offer, whether to try the automatic upgrade, whether
    to show the prompt, and where to go next."""
    prompt = offer.kind == "local" or ctx.tenant.passkey_options.enrollment_prompts
    return {
        "mode": "enroll",
        "kind": offer.kind,
        "automatic": automatic_upgrade_offered(ctx, offer),
        "prompt": prompt,
        "next": next_url(offer),
    }


async def offer_options(ctx: Context, offer: Flow, user: User, *, conditional: object) -> dict[str, Any]:
    """Creation options for the offered passkey. Every passkey of the user is excluded (a device
    that holds one is never asked again); local enrollment prefers the platform authenticator;
    `conditional` (the automatic upgrade) marks the challenge, and only where it is offered."""
    require_enabled(ctx.tenant, PASSKEY)
    silent = conditional is True
    if silent and not automatic_upgrade_offered(ctx, offer):
        raise KeyturnError(code="automatic_upgrade_not_offered", status=403)
    return creation_options(
        ctx,
        offer,
        user_handle=user.user_handle,
        email=user.email,
        existing=await passkeys_below_limit(ctx, user),
        user_id=user.id,
        traits=user.traits,
        conditional=silent,
        this_device=offer.kind == "local",
    )


async def accept_offer(ctx: Context, offer: Flow, user: User, *, credential: object) -> Passkey:
    """Store the new passkey (`gd_enrollment_complete`, or `gd_webauthn_enrollment_failed`,
    with `details.enrollment` the offer's kind) and notify the account's address."""
    return await account.add_passkey(ctx, offer, user=user, credential=credential, purpose=offer.kind)


def _choice(value: object) -> Choice:
    for choice in CHOICES:
        if value == choice:
            return choice
    raise KeyturnError(code="invalid_enrollment_choice")


async def decline_offer(ctx: Context, offer: Flow, user: User, *, choice: object) -> str | None:
    """Not now (for `progressive_enrollment_snooze_days`, both kinds) or Don't ask again.
    Progressive: stored for the user. Local: the value of this browser's cookie, returned for
    the caller to set (nothing is stored)."""
    chosen = _choice(choice)
    now = ctx.now()
    snooze = timedelta(days=ctx.tenant.passkey_options.progressive_enrollment_snooze_days)
    if offer.kind == "local":
        return DEVICE_NEVER if chosen == "never" else f"{_DEVICE_UNTIL}{int((now + snooze).timestamp())}"
    answer = EnrollmentChoice(
        user_id=user.id,
        updated_at=now,
        snoozed_until=now + snooze if chosen == "not_now" else None,
        declined_at=now if chosen == "never" else None,
    )
    async with ctx.writing() as tx:
        await tx.save_enrollment_choice(answer)
    return None
