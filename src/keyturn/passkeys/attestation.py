"""Attestation (WebAuthn L3 §6.5, §8): which authenticator made a credential, and can it be proved?

`passkey_options.attestation` says what Keyturn asks for. When it asks (indirect, direct,
enterprise), the authenticator's model is looked up in the FIDO Metadata Service blob (by
AAGUID, or for U2F by the attestation certificate's key identifier): a model MDS reports
revoked or compromised is refused (`authenticator_compromised`). Then py_webauthn verifies the
statement's signature and its certificate chain up to the roots MDS lists for that model — only
roots from MDS count, so a chain the library would skip (no roots) is never taken as verified.
Under direct and enterprise an attestation that does not verify is refused
(`attestation_untrusted`); under indirect it is recorded as unverified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from webauthn.helpers import base64url_to_bytes, parse_attestation_object
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AttestationObject
from webauthn.registration.formats.android_key import verify_android_key
from webauthn.registration.formats.android_safetynet import verify_android_safetynet
from webauthn.registration.formats.apple import verify_apple
from webauthn.registration.formats.fido_u2f import verify_fido_u2f
from webauthn.registration.formats.packed import verify_packed
from webauthn.registration.formats.tpm import verify_tpm

from keyturn.domain.identity import NO_ATTESTATION, PasskeyAttestation
from keyturn.errors import CeremonyError
from keyturn.passkeys import mds
from keyturn.passkeys.cose import CBOR_ERRORS

Conveyance = Literal["none", "indirect", "direct", "enterprise"]
_ZERO_AAGUID = bytes(16)
_AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
# An Android SafetyNet response older than this (or this far ahead) is refused (py_webauthn's own
# window, applied here against Keyturn's clock).
SAFETYNET_WINDOW = timedelta(seconds=60)
_ERRORS = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError, *CBOR_ERRORS)


def untrusted(detail: str) -> CeremonyError:
    return CeremonyError(code="attestation_untrusted", detail=detail)


def attestation_type(statement: AttestationObject) -> str:
    """The attestation type the format implies (§6.5.4): self when packed has no x5c."""
    fmt = str(statement.fmt.value if hasattr(statement.fmt, "value") else statement.fmt)
    if fmt == "none":
        return "none"
    if fmt == "packed" and not statement.att_stmt.x5c:
        return "self"
    return {"tpm": "attca", "apple": "anonca"}.get(fmt, "basic")


@dataclass(frozen=True)
class AttestationCheck:
    """The attestation as recorded, and the roots registration's verification must chain to
    (py_webauthn checks the chain again with them, and its own built-in roots)."""

    attestation: PasskeyAttestation
    roots_by_format: dict[str, list[bytes]] = field(default_factory=dict)


NOT_ASKED = AttestationCheck(NO_ATTESTATION)


def check_attestation(
    *,
    conveyance: Conveyance,
    credential: dict[str, object],
    metadata: mds.MetadataBlob | None,
    now: datetime,
) -> AttestationCheck:
    """What the credential's attestation proves, refusing what the tenant's conveyance forbids.

    Runs before the rest of registration's verification (which refuses anything malformed), so
    an attestation object that does not parse is "none" here.

    Raises:
        `authenticator_compromised`: MDS reports the model REVOKED, USER_VERIFICATION_BYPASS,
            ATTESTATION_KEY_COMPROMISE (of this certificate), USER_KEY_REMOTE_COMPROMISE or
            USER_KEY_PHYSICAL_COMPROMISE (any conveyance but none).
        `attestation_untrusted`: under direct or enterprise, no MDS blob, no entry for the
            model, no chain to verify (none, self attestation), or a statement or chain that
            does not verify.
    """
    if conveyance == "none":
        return NOT_ASKED
    try:
        response = credential["response"]
        assert isinstance(response, dict)
        raw_object = base64url_to_bytes(str(response["attestationObject"]))
        client_data = base64url_to_bytes(str(response["clientDataJSON"]))
        statement = parse_attestation_object(raw_object)
        attested = statement.auth_data.attested_credential_data
        assert attested is not None
    except (*_ERRORS, AssertionError):
        return NOT_ASKED  # verify_registration refuses it with its own code
    fmt = str(statement.fmt.value if hasattr(statement.fmt, "value") else statement.fmt)
    kind = attestation_type(statement)
    chain = list(statement.att_stmt.x5c or [])
    entry = _entry(metadata, fmt=fmt, aaguid=attested.aaguid, chain=chain)
    if entry is not None:
        status = mds.refused_status(entry, chain)
        if status is not None:
            raise CeremonyError(code="authenticator_compromised", detail=f"MDS status {status}")
    roots = mds.attestation_roots_pem(entry) if entry is not None else []
    problem = _unverifiable(metadata, entry, fmt=fmt, kind=kind, aaguid=attested.aaguid)
    if problem is None:
        problem = _verify(statement, raw_object=raw_object, client_data=client_data, roots=roots, now=now)
    if problem is not None:
        if conveyance in ("direct", "enterprise"):
            raise untrusted(problem)
        # No roots for the library either: they would turn "not proved" into a refusal.
        return AttestationCheck(PasskeyAttestation(format=fmt, type=kind))
    assert entry is not None
    verified = PasskeyAttestation(
        format=fmt,
        type=kind,
        verified=True,
        provider=mds.provider(entry),
        certification_level=mds.certification_level(entry),
    )
    return AttestationCheck(verified, {fmt: roots})


def _entry(
    metadata: mds.MetadataBlob | None, *, fmt: str, aaguid: bytes, chain: list[bytes]
) -> mds.MetadataBlobPayloadEntry | None:
    if metadata is None:
        return None
    if fmt == "fido-u2f":
        return metadata.by_certificate(chain[0]) if chain else None
    if aaguid == _ZERO_AAGUID:
        return None
    return metadata.by_aaguid(str(_uuid(aaguid)))


def _uuid(aaguid: bytes) -> str:
    h = aaguid.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _unverifiable(
    metadata: mds.MetadataBlob | None,
    entry: mds.MetadataBlobPayloadEntry | None,
    *,
    fmt: str,
    kind: str,
    aaguid: bytes,
) -> str | None:
    """Why this attestation cannot be verified against MDS, or None when it can be tried."""
    if kind in ("none", "self"):
        return f"{kind} attestation proves no model"
    if fmt == "fido-u2f" and aaguid != _ZERO_AAGUID:
        return "fido-u2f attestation with a non-zero AAGUID"  # §8.6: U2F has none; it is unsigned
    if metadata is None:
        return "no FIDO Metadata Service blob is stored (keyturn mds update)"
    if entry is None:
        return f"authenticator {_uuid(aaguid)} is not in the FIDO Metadata Service blob"
    if not mds.attestation_roots_pem(entry):
        return "the MDS entry lists no attestation root"
    return None


def _verify(
    statement: AttestationObject, *, raw_object: bytes, client_data: bytes, roots: list[bytes], now: datetime
) -> str | None:
    """py_webauthn's verifier for the format, with only the MDS roots as trust anchors (the
    library appends its built-in ones for apple and android to the list it is given: a copy)."""
    roots = list(roots)
    att = statement.att_stmt
    attested = statement.auth_data.attested_credential_data
    assert attested is not None
    key = attested.credential_public_key
    fmt = str(statement.fmt.value if hasattr(statement.fmt, "value") else statement.fmt)
    try:
        if fmt == "packed":
            ok = verify_packed(
                attestation_statement=att,
                attestation_object=raw_object,
                client_data_json=client_data,
                credential_public_key=key,
                pem_root_certs_bytes=roots,
            )
        elif fmt == "tpm":
            ok = verify_tpm(
                attestation_statement=att,
                attestation_object=raw_object,
                client_data_json=client_data,
                credential_public_key=key,
                pem_root_certs_bytes=roots,
            )
        elif fmt == "android-key":
            ok = verify_android_key(
                attestation_statement=att,
                attestation_object=raw_object,
                client_data_json=client_data,
                credential_public_key=key,
                pem_root_certs_bytes=roots,
            )
        elif fmt == "android-safetynet":
            _check_safetynet_time(att.response, now=now)
            ok = verify_android_safetynet(
                attestation_statement=att,
                attestation_object=raw_object,
                client_data_json=client_data,
                pem_root_certs_bytes=roots,
                verify_timestamp_ms=False,  # checked above against Keyturn's clock
            )
        elif fmt == "apple":
            ok = verify_apple(
                attestation_statement=att,
                attestation_object=raw_object,
                client_data_json=client_data,
                credential_public_key=key,
                pem_root_certs_bytes=roots,
            )
        elif fmt == "fido-u2f":
            ok = verify_fido_u2f(
                attestation_statement=att,
                client_data_json=client_data,
                rp_id_hash=statement.auth_data.rp_id_hash,
                credential_id=attested.credential_id,
                credential_public_key=key,
                aaguid=attested.aaguid,
                pem_root_certs_bytes=roots,
            )
        else:
            return f"attestation format {fmt!r} is not one Keyturn verifies"
    except _ERRORS as exc:
        return f"{fmt} statement or chain does not verify: {exc!r}"
    if not ok:
        return f"{fmt} statement does not verify"
    if fmt == "packed" and att.x5c:
        return _aaguid_extension_mismatch(att.x5c[0], attested.aaguid)
    return None


def _aaguid_extension_mismatch(certificate_der: bytes, aaguid: bytes) -> str | None:
    """§8.2.1: a packed attestation certificate naming an AAGUID (id-fido-gen-ce-aaguid) must
    name the one in the authenticator data (py_webauthn does not look); without this, one
    model's certificate could vouch for another model's metadata."""
    try:
        extension = x509.load_der_x509_certificate(certificate_der).extensions.get_extension_for_oid(
            _AAGUID_EXTENSION
        )
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        return f"packed attestation certificate does not parse: {exc}"
    value = extension.value
    named = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if named != b"\x04\x10" + aaguid:  # an OCTET STRING of the 16 AAGUID bytes
        return "packed attestation certificate names another AAGUID"
    return None


def _check_safetynet_time(response: bytes | None, *, now: datetime) -> None:
    """SafetyNet's JWS carries timestampMs; it must be within SAFETYNET_WINDOW of now."""
    if not response:
        raise ValueError("android-safetynet without a response")
    payload = response.split(b".")[1]
    claims = json.loads(base64url_to_bytes(payload.decode()))
    stamp = datetime.fromtimestamp(int(claims.get("timestampMs", 0)) / 1000, tz=now.tzinfo)
    if abs(now - stamp) > SAFETYNET_WINDOW:
        raise ValueError(f"SafetyNet response made at {stamp}, not within {SAFETYNET_WINDOW} of {now}")
