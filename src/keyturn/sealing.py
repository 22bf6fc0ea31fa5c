"""Sealed bytes: AES-256-GCM, for secrets at rest and for state carried by browsers.

- `seal` / `unseal`: under the key-encryption key (KEK) outside the database, for OIDC
  private keys and hook secrets; the associated data binds each ciphertext to its row (a
  key id, a hook id), so a ciphertext copied to another row does not open.
- `seal_fields` / `open_fields`: a small JSON object sealed under the instance's flow key,
  bound to a purpose ("flow", "challenge"), for state the browser carries so the server
  need not store it. Tampering, another purpose or another key: it does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class Unsealable(ValueError):
    """Not something Keyturn sealed with this key for this purpose (or tampered with)."""


@lru_cache(maxsize=16)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def seal(kek: bytes, plaintext: bytes, *, bound_to: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _cipher(kek).encrypt(nonce, plaintext, bound_to.encode())


def unseal(kek: bytes, sealed: bytes, *, bound_to: str) -> bytes:
    return _cipher(kek).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], bound_to.encode())


def seal_fields(key: bytes, fields: dict[str, Any], *, purpose: str) -> bytes:
    payload = json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))
    return seal(key, payload.encode(), bound_to=purpose)


def open_fields(key: bytes, sealed: bytes, *, purpose: str) -> dict[str, Any]:
    try:
        data = json.loads(unseal(key, sealed, bound_to=purpose))
    except (InvalidTag, ValueError) as exc:
        raise Unsealable(purpose) from exc
    if not isinstance(data, dict):
        raise Unsealable(purpose)
    return data


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Unsealable("base64url") from exc


def to_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def from_seconds(seconds: object) -> datetime:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds < 2**34:
        raise Unsealable("timestamp")
    return datetime.fromtimestamp(seconds, UTC)
