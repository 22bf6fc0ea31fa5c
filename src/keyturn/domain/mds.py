"""The FIDO Metadata Service blob as stored: the signed JWT and what `keyturn mds status` shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class StoredMetadataBlob:
    serial: int  # the payload's `no`: a newer blob has a higher one
    next_update: date
    entry_count: int
    blob: str = field(repr=False)  # the JWT, verified again whenever a process loads it
    stored_at: datetime
