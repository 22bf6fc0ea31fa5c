"""Where registrations get the FIDO Metadata Service blob: the stored one, verified against the
configured root (`mds_root_certificate_file`, default the shipped FIDO MDS3 root)."""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from keyturn.context import Context
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.errors import KeyturnError
from keyturn.passkeys.mds import MetadataBlob, parse_metadata_blob

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def root_pem(path: Path | None) -> bytes:
    """The root certificate MDS blobs must chain to: `path`, or the one shipped with Keyturn."""
    if path is None:
        return files("keyturn.passkeys").joinpath("fido_mds_root.pem").read_bytes()
    return path.read_bytes()


async def current_metadata(ctx: Context) -> MetadataBlob | None:
    """The stored blob, verified now (once per serial per process); None when there is none or
    it no longer verifies (its certificates expired, say), which direct attestation refuses."""
    root = root_pem(ctx.rt.settings.mds_root_certificate_file)

    def parse(stored: StoredMetadataBlob) -> MetadataBlob:
        return parse_metadata_blob(stored.blob.encode(), root_pem=root, now=ctx.now())

    try:
        return await ctx.rt.metadata.current(await ctx.read(), parse)
    except KeyturnError as error:
        log.error("stored FIDO Metadata Service blob does not verify", extra={"detail": error.detail})
        return None
