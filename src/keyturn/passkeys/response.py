"""Reading a browser's credential JSON far enough to route it, before any verification.

Keyturn needs the credential id (which passkey?) and the client data's challenge (which
flow's challenge to consume) first; anything malformed is a clean 400, never a 500.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

from webauthn.helpers import base64url_to_bytes

from keyturn.errors import CeremonyError

MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 §5.1: longer ids must be ignored


@dataclass(frozen=True)
class ClientData:
    type: str
    challenge: bytes
    origin: str
    cross_origin: bool
    top_origin: str | None


@dataclass(frozen=True)
class CredentialResponse:
    raw: dict[str, Any]
    credential_id: bytes
    client_data: ClientData
    user_handle: bytes | None
    # What the browser says the authenticator was ("platform", or "cross-platform": a security
    # key, or a phone through the hybrid transport). Unsigned: a hint for what to offer, never proof.
    attachment: str | None = None


def malformed(detail: str) -> CeremonyError:
    return CeremonyError(code="invalid_response", detail=detail)


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise malformed(f"{field} is not a base64url string")
    try:
        return base64url_to_bytes(value)
    except (binascii.Error, ValueError) as exc:
        raise malformed(f"{field} is not valid base64url") from exc


def _client_data(encoded: object) -> ClientData:
    try:
        data = json.loads(_b64(encoded, "clientDataJSON"))
    except (ValueError, RecursionError) as exc:
        raise malformed("clientDataJSON is not JSON") from exc
    if not isinstance(data, dict):
        raise malformed("clientDataJSON is not an object")
    kind, origin, top = data.get("type"), data.get("origin"), data.get("topOrigin")
    if not isinstance(kind, str) or not isinstance(origin, str):
        raise malformed("clientDataJSON lacks type or origin")
    if top is not None and not isinstance(top, str):
        raise malformed("clientDataJSON.topOrigin is not a string")
    return ClientData(
        type=kind,
        challenge=_b64(data.get("challenge"), "clientDataJSON.challenge"),
        origin=origin,
        cross_origin=data.get("crossOrigin") is True,
        top_origin=top,
    )


def parse_credential_response(raw: object) -> CredentialResponse:
    """The routing facts of a RegistrationResponseJSON or AuthenticationResponseJSON."""
    if not isinstance(raw, dict) or not isinstance(raw.get("response"), dict):
        raise malformed("credential is not an object with a response")
    if raw.get("type") != "public-key":
        raise malformed("credential type is not public-key")
    credential_id = _b64(raw.get("rawId"), "rawId")
    if _b64(raw.get("id"), "id") != credential_id:
        raise malformed("id and rawId differ")
    response = raw["response"]
    transports = response.get("transports")
    if transports is not None and not (
        isinstance(transports, list) and all(isinstance(t, str) for t in transports)
    ):
        raise malformed("transports is not a list of strings")
    handle = response.get("userHandle")
    attachment = raw.get("authenticatorAttachment")
    return CredentialResponse(
        raw=raw,
        credential_id=credential_id,
        client_data=_client_data(response.get("clientDataJSON")),
        user_handle=_b64(handle, "userHandle") if handle else None,
        attachment=attachment if attachment in ("platform", "cross-platform") else None,
    )
