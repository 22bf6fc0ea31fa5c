"""How a hook call is signed, so the receiver knows it came from Keyturn and is fresh.

Header `Keyturn-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
receivers recompute it and refuse anything older than a few minutes (replay).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "keyturn-signature"
TOLERANCE_SECONDS = 300


def sign(secret: bytes, body: bytes, *, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, body: bytes, header: str, *, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver does (and what Keyturn's tests and docs use)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp=timestamp).encode()
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))  # bytes: any header is safe
