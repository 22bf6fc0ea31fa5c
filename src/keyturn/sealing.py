"""Secrets at rest: AES-256-GCM under the key-encryption key (KEK) kept outside the database.

Used for OIDC private keys and hook secrets. The associated data binds each ciphertext to
its row (a key id, a hook id), so a ciphertext copied to another row does not open.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


def seal(kek: bytes, plaintext: bytes, *, bound_to: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, bound_to.encode())


def unseal(kek: bytes, sealed: bytes, *, bound_to: str) -> bytes:
    return AESGCM(kek).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], bound_to.encode())
