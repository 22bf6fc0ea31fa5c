"""Security notifications: a message to the account's address for each change to how it signs
in or where its mail goes, queued in the change's own transaction (sent only if it commits),
unless the tenant turned that kind off (`notifications.<kind>`). The account page, email change
and the management API all notify through here, so an operator's change is told like the
user's own."""

from __future__ import annotations

from typing import Literal

from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.methods import MethodId
from keyturn.i18n import N_, translator
from keyturn.mail.outbox import send_later
from keyturn.mail.render import link
from keyturn.store.protocols import WriteTx

SecurityChange = Literal[
    "passkey_added", "passkey_removed", "password_set", "password_changed", "password_removed"
]

NOTICES: dict[SecurityChange, str] = {
    "passkey_added": N_("A passkey ({detail}) was added to your account."),
    "passkey_removed": N_("A passkey ({detail}) was removed from your account."),
    "password_set": N_("A password was set on your account."),
    "password_changed": N_("The password of your account was changed."),
    "password_removed": N_("The password of your account was removed."),
}
ADDED = {"passkey": N_("a passkey"), "password": N_("a new password")}


async def notify_security_change(
    ctx: Context, tx: WriteTx, user: User, kind: SecurityChange, detail: str = ""
) -> None:
    if getattr(ctx.tenant.notifications, kind):
        await send_later(
            ctx,
            tx,
            "security_notice",
            to_address=user.email,
            user_id=user.id,
            what=translator(ctx.tenant.ui).gettext(NOTICES[kind]).format(detail=detail),
            recover=link(ctx, "/recovery"),
        )


async def notify_password_saved(ctx: Context, tx: WriteTx, user: User) -> None:
    """`user` as it was before: a first password is "set", a replaced one "changed"."""
    await notify_security_change(ctx, tx, user, "password_changed" if user.has_password else "password_set")


async def notify_email_changed(ctx: Context, tx: WriteTx, user: User, *, new_email: str) -> None:
    """Tell the old address (`user.email`, as it was) where the account's mail now goes."""
    if ctx.tenant.notifications.email_changed:
        await send_later(
            ctx,
            tx,
            "email_changed",
            to_address=user.email,
            user_id=user.id,
            new_email=new_email,
            recover=link(ctx, "/recovery"),
        )


async def notify_recovered(
    ctx: Context, tx: WriteTx, user: User, *, added: MethodId, signed_out_others: bool
) -> None:
    """Tell the account it was recovered by email, with what was added and when."""
    if ctx.tenant.notifications.recovery_used:
        texts = translator(ctx.tenant.ui)
        await send_later(
            ctx,
            tx,
            "recovery_used",
            to_address=user.email,
            user_id=user.id,
            added=texts.gettext(ADDED["passkey" if added == "passkey" else "password"]),
            signed_out=signed_out_others,
            when=texts.datetime(ctx.now()),
            recover=link(ctx, "/recovery"),
        )
