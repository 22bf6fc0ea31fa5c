"""The FIDO Metadata Service blob for operators: `keyturn mds update --file` and `mds status`.

The blob is verified (signature chain to the configured MDS root, certificates valid now)
before it is stored, and stored only over an older one (a higher serial), so a stale or
replayed blob cannot bring back an authenticator MDS has since revoked. Every worker and
instance reads the stored blob (`keyturn.methods.metadata`).
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.context import Context
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.errors import Conflict
from keyturn.methods.metadata import root_pem
from keyturn.operations.audit import Actor, record_change
from keyturn.passkeys.mds import invalid_blob, parse_metadata_blob


@dataclass(frozen=True)
class MetadataStatus:
    stored: StoredMetadataBlob | None
    overdue: bool  # nextUpdate has passed: fetch a newer blob

    def as_json(self) -> dict[str, object]:
        if self.stored is None:
            return {"stored": False}
        return {
            "stored": True,
            "serial": self.stored.serial,
            "next_update": self.stored.next_update.isoformat(),
            "entries": self.stored.entry_count,
            "stored_at": self.stored.stored_at.isoformat(),
            "overdue": self.overdue,
        }


async def update_metadata(ctx: Context, blob: bytes, *, actor: Actor) -> StoredMetadataBlob:
    """Verify `blob` and store it for every process.

    Raises:
        KeyturnError `mds_blob_invalid`: it does not verify (`keyturn.passkeys.mds`).
        Conflict `mds_blob_not_newer`: its serial is not above the stored blob's.
    """
    try:
        text = blob.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise invalid_blob("not ASCII: a JWT is base64url text") from exc
    parsed = parse_metadata_blob(
        text.encode(), root_pem=root_pem(ctx.rt.settings.mds_root_certificate_file), now=ctx.now()
    )
    stored = StoredMetadataBlob(
        serial=parsed.serial,
        next_update=parsed.next_update,
        entry_count=parsed.entry_count,
        blob=text,
        stored_at=ctx.now(),
    )
    async with ctx.writing() as tx:
        current = await tx.mds_serial()
        if current is not None and parsed.serial <= current:
            raise Conflict(code="mds_blob_not_newer", serial=parsed.serial, stored=current)
        await tx.store_mds_blob(stored)
        record_change(ctx, actor, "update_mds_blob", serial=parsed.serial, entries=parsed.entry_count)
    return stored


async def metadata_status(ctx: Context) -> MetadataStatus:
    stored = await (await ctx.read()).load_mds_blob()
    overdue = stored is not None and stored.next_update < ctx.now().date()
    return MetadataStatus(stored=stored, overdue=overdue)
