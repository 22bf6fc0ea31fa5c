"""Software WebAuthn authenticator: real keys, signatures and CBOR, so RP tests need no mocks.

It plays both the browser (clientDataJSON) and a platform authenticator ("none" attestation),
and skips the browser's origin / RP ID checks on purpose so tests can forge mismatches.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

ES256, EDDSA, RS256 = -7, -8, -257
SUPPORTED_ALGS = (ES256, EDDSA, RS256)
DEFAULT_AAGUID = b"keyturn-softauth"  # made up; 16 bytes so it is a valid AAGUID
# What a browser assumes when pubKeyCredParams is empty (WebAuthn L3 5.1.3).
_DEFAULT_PARAMS_ALGS = (ES256, RS256)
_UP, _UV, _BE, _BS, _AT = 0x01, 0x04, 0x08, 0x10, 0x40

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class SoftAuthenticatorError(Exception):
    """Base for refusals that a real browser/authenticator would also make."""


class CredentialExcluded(SoftAuthenticatorError):
    """create() found a held credential in excludeCredentials (InvalidStateError)."""


class NoCredential(SoftAuthenticatorError):
    """get() holds no credential matching the request (user sees 'no passkey')."""


class NoSupportedAlgorithm(SoftAuthenticatorError):
    """pubKeyCredParams does not offer this authenticator's alg (NotSupportedError)."""


@dataclass
class StoredKey:
    """One credential held by the authenticator; tests may inspect or edit it."""

    credential_id: bytes
    private_key: PrivateKey
    alg: int
    rp_id: str
    user_handle: bytes
    sign_count: int


@dataclass(kw_only=True)
class SoftAuthenticator:
    """A platform passkey authenticator holding real private keys in memory.

    It supports exactly one COSE alg (``alg``) so a test always knows which key
    type it gets. ``counter_step=0`` mimics synced passkeys that always report 0.
    """

    aaguid: bytes = DEFAULT_AAGUID
    alg: int = ES256
    backup_eligible: bool = True
    backup_state: bool = True
    user_verified: bool = True
    user_present: bool = True  # False: a creation with no user present (the automatic upgrade)
    counter_step: int = 1
    transports: tuple[str, ...] = ("internal", "hybrid")
    attachment: str = "platform"  # "cross-platform": a phone (hybrid) or a security key
    # A security key's "packed" attestation (WebAuthn §8.2): its batch key and certificate chain.
    # Made only when the options ask for attestation (direct, enterprise or indirect), as browsers do.
    attestation_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    attestation_chain: tuple[bytes, ...] = ()
    credentials: dict[bytes, StoredKey] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        """Fail at construction, not mid-ceremony, on a setting no ceremony can use."""
        if len(self.aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        if self.alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported COSE alg {self.alg}; use one of {SUPPORTED_ALGS}")

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        cross_origin: bool | None = None,
        top_origin: str | None = None,
        credential_id: bytes | None = None,
        challenge_override: str | None = None,
    ) -> dict[str, Any]:
        """Answer navigator.credentials.create(); returns RegistrationResponseJSON."""
        rp_id = _rp_id(options["rp"].get("id"), origin)
        for desc in options.get("excludeCredentials") or []:
            held = self.credentials.get(base64url_to_bytes(desc["id"]))
            if held is not None and held.rp_id == rp_id:
                raise CredentialExcluded(f"already registered for {rp_id}: {desc['id']}")
        params = options.get("pubKeyCredParams") or []
        offered = [p["alg"] for p in params if p.get("type") == "public-key"]
        if self.alg not in (offered if params else _DEFAULT_PARAMS_ALGS):
            raise NoSupportedAlgorithm(f"alg {self.alg} not in pubKeyCredParams {offered}")
        key = _new_key(self.alg)
        cred_id = os.urandom(32) if credential_id is None else credential_id
        user_handle = base64url_to_bytes(options["user"]["id"])
        stored = StoredKey(cred_id, key, self.alg, rp_id, user_handle, sign_count=0)
        self.credentials.pop(cred_id, None)  # re-insert so it counts as most recent
        self.credentials[cred_id] = stored
        attested = self.aaguid + struct.pack(">H", len(cred_id)) + cred_id + _cose_key(key)
        uv, be, bs = self.user_verified, self.backup_eligible, self.backup_state
        auth_data = _auth_data(rp_id, stored.sign_count, uv, be, bs, attested=attested, up=self.user_present)
        challenge = options["challenge"] if challenge_override is None else challenge_override
        client_data = _client_data("webauthn.create", challenge, origin, cross_origin, top_origin)
        asked = options.get("attestation", "none") != "none"
        if asked and self.attestation_key is not None:
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {
                "alg": ES256,
                "sig": _sign(self.attestation_key, signed),
                "x5c": list(self.attestation_chain),
            }
            attestation = cbor2.dumps({"fmt": "packed", "attStmt": statement, "authData": auth_data})
        else:
            attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        response = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "attestationObject": bytes_to_base64url(attestation),
            "transports": list(self.transports),
        }
        return _credential_json(cred_id, response, self.attachment)

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        credential_id: bytes | None = None,
        cross_origin: bool | None = None,
        top_origin: str | None = None,
        user_handle_override: bytes | None = None,
        challenge_override: str | None = None,
        sign_count_override: int | None = None,
        backup_eligible_override: bool | None = None,
    ) -> dict[str, Any]:
        """Answer navigator.credentials.get(); returns AuthenticationResponseJSON.

        ``credential_id`` bypasses RP scoping, so a test can sign for the wrong
        rpId. Clearing BE via ``backup_eligible_override`` also clears BS, so the
        twin looks like a coherent single-device credential.
        """
        rp_id = _rp_id(options.get("rpId"), origin)
        stored = self._select(rp_id, options.get("allowCredentials") or [], credential_id)
        stored.sign_count += self.counter_step
        count = stored.sign_count if sign_count_override is None else sign_count_override
        be, bs = self.backup_eligible, self.backup_state
        if backup_eligible_override is not None:
            be, bs = backup_eligible_override, bs and backup_eligible_override
        auth_data = _auth_data(rp_id, count, self.user_verified, be, bs)
        challenge = options["challenge"] if challenge_override is None else challenge_override
        client_data = _client_data("webauthn.get", challenge, origin, cross_origin, top_origin)
        signature = _sign(stored.private_key, auth_data + hashlib.sha256(client_data).digest())
        handle = stored.user_handle if user_handle_override is None else user_handle_override
        response = {
            "clientDataJSON": bytes_to_base64url(client_data),
            "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature),
            "userHandle": bytes_to_base64url(handle),
        }
        return _credential_json(stored.credential_id, response, self.attachment)

    def _select(self, rp_id: str, allow: list[dict[str, Any]], wanted: bytes | None) -> StoredKey:
        """Pick the credential the way a user at a real authenticator would."""
        if wanted is not None:
            found = self.credentials.get(wanted)
        elif allow:
            held = (self.credentials.get(base64url_to_bytes(d["id"])) for d in allow)
            found = next((k for k in held if k is not None and k.rp_id == rp_id), None)
        else:
            newest_first = reversed(self.credentials.values())
            found = next((k for k in newest_first if k.rp_id == rp_id), None)
        if found is None:
            raise NoCredential(f"no credential for rpId {rp_id!r}")
        return found


def _credential_json(credential_id: bytes, response: dict[str, Any], attachment: str) -> dict[str, Any]:
    """The PublicKeyCredential.toJSON() shape shared by both ceremonies."""
    encoded = bytes_to_base64url(credential_id)
    return {
        "id": encoded,
        "rawId": encoded,
        "type": "public-key",
        "response": response,
        "clientExtensionResults": {},
        "authenticatorAttachment": attachment,
    }


def _rp_id(explicit: str | None, origin: str) -> str:
    """Browsers default the RP ID to the origin's host when options omit it."""
    return explicit or urlsplit(origin).hostname or ""


def _auth_data(
    rp_id: str, sign_count: int, uv: bool, be: bool, bs: bool, *, attested: bytes = b"", up: bool = True
) -> bytes:
    """rpIdHash || flags || signCount [|| attested credential]; UP set unless told (`user_present`)."""
    flags = (_UP if up else 0) | (_UV if uv else 0) | (_BE if be else 0) | (_BS if bs else 0)
    flags |= _AT if attested else 0
    return hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, sign_count) + attested


def _client_data(
    kind: str, challenge: str, origin: str, cross_origin: bool | None, top_origin: str | None
) -> bytes:
    """Compact JSON in the browser's key order; optional members only when given."""
    data: dict[str, Any] = {"type": kind, "challenge": challenge, "origin": origin}
    if cross_origin is not None:
        data["crossOrigin"] = cross_origin
    if top_origin is not None:
        data["topOrigin"] = top_origin
    return json.dumps(data, separators=(",", ":")).encode()


def _new_key(alg: int) -> PrivateKey:
    """Fresh key pair of the type the COSE alg demands."""
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cose_key(key: PrivateKey) -> bytes:
    """COSE_Key in CTAP2 canonical order, which cbor2 round-trips byte for byte."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        x, y = point.x.to_bytes(32, "big"), point.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: ES256, -1: 1, -2: x, -3: y})
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cbor2.dumps({1: 1, 3: EDDSA, -1: 6, -2: raw})
    pub = key.public_key().public_numbers()  # 2048-bit n, e = 65537: no leading zeros
    return cbor2.dumps({1: 3, 3: RS256, -1: pub.n.to_bytes(256, "big"), -2: pub.e.to_bytes(3, "big")})


def _sign(key: PrivateKey, data: bytes) -> bytes:
    """DER ECDSA, raw Ed25519 or PKCS#1 v1.5 - what WebAuthn RPs expect per alg."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
