"""The identity schema against the users who exist: `keyturn users validate`, and the guard
that refuses a schema change which would make existing users invalid unless forced."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from keyturn import messages
from keyturn.context import Context
from keyturn.domain.tenant import TenantSettings
from keyturn.domain.traits import IdentitySchema, TraitError
from keyturn.errors import Conflict

_PAGE = 500


@dataclass(frozen=True)
class InvalidUser:
    user_id: str
    email: str
    errors: list[TraitError]

    def by_trait(self) -> dict[str, str]:
        return {e.trait or "traits": messages.text(e.message, e.params) for e in self.errors}

    def as_json(self) -> dict[str, object]:
        return {"user_id": self.user_id, "email": self.email, "errors": self.by_trait()}


async def invalid_users(ctx: Context, schema: IdentitySchema) -> list[InvalidUser]:
    """Every user whose traits fail `schema`, by id (a keyset walk, a page at a time)."""
    found: list[InvalidUser] = []
    reads = await ctx.read()
    after: str | None = None
    while True:
        page = await reads.iter_users(after=after, limit=_PAGE)
        for user in page:
            errors = schema.errors(user.email, user.traits)
            if errors:
                found.append(InvalidUser(user.id, user.email, errors))
        if len(page) < _PAGE:
            return found
        after = page[-1].id


async def check_identity_schema_change(
    ctx: Context, current: TenantSettings, updated: TenantSettings, *, force: bool
) -> None:
    """Refuse (409) a new schema that existing users would fail, naming how many and the trait
    most of them fail on, unless forced. Users stay as they are when forced: `keyturn users
    validate` lists them, and their next edit must satisfy the new schema."""
    if updated.identity_schema == current.identity_schema or force:
        return
    broken = await invalid_users(ctx, updated.identity)
    if not broken:
        return
    by_trait = Counter(e.trait for user in broken for e in user.errors)
    trait, _ = by_trait.most_common(1)[0]
    first = next(e for user in broken for e in user.errors if e.trait == trait)
    count = len(broken)
    raise Conflict(
        code="schema_change_breaks_users",
        count=count,
        plural="s" if count != 1 else "",
        trait=trait or "traits",
        text=messages.text(first.message, first.params),
        extra={"invalid_users": count, "traits": dict(by_trait)},
    )
