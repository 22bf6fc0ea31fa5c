"""Stand-in passkeys for an email with none (or no account), shaped like real accounts'.

Identifier-first sign-in answers Continue with the account's passkeys in allowCredentials.
So that the answer never tells whether an account exists, an email without passkeys gets
made-up ones that look like what real accounts get here: how many (drawn from how many
passkeys accounts actually have), how long their ids are and which transports they list
(drawn from a sample of stored passkeys). The draw is seeded by an HMAC of the email under
the instance's enumeration key, so the same email always gets the same answer, as a real
account does, and nobody without the key can tell a stand-in from a real passkey.
"""

from __future__ import annotations

import hashlib
import hmac
import random

from keyturn.context import Context

Descriptor = tuple[bytes, tuple[str, ...]]


async def stand_in_credentials(ctx: Context, email: str) -> list[Descriptor]:
    """The same made-up passkeys for `email` every time, shaped like the stored ones."""
    shapes = await ctx.rt.passkey_shapes.current(await ctx.read())
    seed = hmac.new(ctx.rt.secrets.enumeration_key, email.encode(), hashlib.sha256).digest()
    draw = random.Random(seed)  # noqa: S311 - a seeded, keyed draw of shapes, not of secrets
    counts = sorted(shapes.counts)
    count = draw.choices(counts, weights=[shapes.counts[c] for c in counts])[0]
    made: list[Descriptor] = []
    for index in range(min(count, 20)):
        length, transports = shapes.shapes[draw.randrange(len(shapes.shapes))]
        credential_id = hashlib.shake_256(seed + index.to_bytes(2, "big")).digest(length)
        made.append((credential_id, transports))
    return made
