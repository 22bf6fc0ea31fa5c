"""The FIDO Metadata Service (MDS3) blob: verified, parsed, and asked about one authenticator.

The blob is a JWT whose x5c header chains to the FIDO MDS root (GlobalSign Root CA - R3,
shipped with Keyturn; an operator or a test may configure another). `fido2.mds3` parses it and
checks the signatures; Keyturn adds the validity dates of the chain at the time it is given.
Machines without internet get the blob from the operator (`keyturn mds update --file`); Keyturn
never fetches it.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from hashlib import sha1
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fido2.attestation.base import InvalidSignature
from fido2.mds3 import AuthenticatorStatus, MetadataBlobPayload, MetadataBlobPayloadEntry, parse_blob
from fido2.utils import websafe_decode

from keyturn.errors import KeyturnError

__all__ = ["MetadataBlob", "MetadataBlobPayloadEntry", "parse_metadata_blob"]

# The statuses that make an authenticator unacceptable (FIDO MDS3 §3.1.4).
REFUSED_STATUSES = frozenset(
    {
        AuthenticatorStatus.REVOKED,
        AuthenticatorStatus.USER_VERIFICATION_BYPASS,
        AuthenticatorStatus.ATTESTATION_KEY_COMPROMISE,
        AuthenticatorStatus.USER_KEY_REMOTE_COMPROMISE,
        AuthenticatorStatus.USER_KEY_PHYSICAL_COMPROMISE,
    }
)
_CERTIFIED_PREFIX = "FIDO_CERTIFIED"


def invalid_blob(detail: str) -> KeyturnError:
    return KeyturnError(code="mds_blob_invalid", detail=detail)


@dataclass(frozen=True)
class MetadataBlob:
    """A verified blob: its serial number (`no`), when the next one is due, and its entries."""

    serial: int
    next_update: date
    payload: MetadataBlobPayload = field(repr=False)
    _by_aaguid: dict[str, MetadataBlobPayloadEntry] = field(repr=False, default_factory=dict)
    _by_key_id: dict[bytes, MetadataBlobPayloadEntry] = field(repr=False, default_factory=dict)

    @property
    def entry_count(self) -> int:
        return len(self.payload.entries)

    def by_aaguid(self, aaguid: str) -> MetadataBlobPayloadEntry | None:
        return self._by_aaguid.get(aaguid.lower())

    def by_certificate(self, certificate_der: bytes) -> MetadataBlobPayloadEntry | None:
        """The entry naming this attestation certificate's key identifier (U2F authenticators
        have no AAGUID: MDS lists them by attestationCertificateKeyIdentifiers)."""
        return self._by_key_id.get(certificate_key_identifier(certificate_der))


def certificate_key_identifier(certificate_der: bytes) -> bytes:
    """SHA-1 of the certificate's subjectPublicKey bit string (RFC 5280 §4.2.1.2, method 1), as
    MDS3 lists attestationCertificateKeyIdentifiers: an EC point, or an RSAPublicKey."""
    key = x509.load_der_x509_certificate(certificate_der).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    elif isinstance(key, rsa.RSAPublicKey):
        bits = key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    else:
        return b""
    return sha1(bits, usedforsecurity=False).digest()


def parse_metadata_blob(blob: bytes, *, root_pem: bytes, now: datetime) -> MetadataBlob:
    """Verify `blob`'s signature chain up to `root_pem` (each certificate valid at `now`) and parse it.

    Raises:
        KeyturnError `mds_blob_invalid`: not a JWT, a chain that does not reach the root, a
            certificate outside its validity, a bad signature, or a payload that is not MDS3.
    """
    blob = blob.strip()
    try:
        root = x509.load_pem_x509_certificate(root_pem)
    except ValueError as exc:
        raise invalid_blob(f"root certificate: {exc}") from exc
    chain = _header_chain(blob)
    for certificate in [*chain, root]:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise invalid_blob(f"certificate {certificate.subject.rfc4514_string()} not valid at {now}")
    try:
        payload = parse_blob(blob, root.public_bytes(Encoding.DER))
    except (InvalidSignature, CryptographyInvalidSignature) as exc:
        raise invalid_blob("signature or certificate chain does not verify") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise invalid_blob(f"not an MDS3 blob: {exc!r}") from exc
    by_aaguid = {str(e.aaguid).lower(): e for e in payload.entries if e.aaguid is not None}
    by_key_id = {
        key_id: e for e in payload.entries for key_id in (e.attestation_certificate_key_identifiers or ())
    }
    return MetadataBlob(
        serial=payload.no,
        next_update=payload.next_update,
        payload=payload,
        _by_aaguid=by_aaguid,
        _by_key_id=by_key_id,
    )


def _header_chain(blob: bytes) -> list[x509.Certificate]:
    try:
        header: Any = json.loads(websafe_decode(blob.split(b".", 1)[0]))
        return [x509.load_der_x509_certificate(binascii.a2b_base64(c)) for c in header["x5c"]]
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
        raise invalid_blob(f"JWT header without an x5c chain: {exc!r}") from exc


def refused_status(entry: MetadataBlobPayloadEntry, chain: list[bytes]) -> str | None:
    """The first status report that makes this authenticator unacceptable, if any.

    Any report counts, not only the latest: WebAuthn does not say which firmware signed, so a
    later UPDATE_AVAILABLE cannot show that this device has the fix. ATTESTATION_KEY_COMPROMISE
    naming one certificate refuses only attestations made with it.
    """
    for report in entry.status_reports:
        if report.status not in REFUSED_STATUSES:
            continue
        names_other_certificate = report.certificate is not None and report.certificate not in chain
        if report.status == AuthenticatorStatus.ATTESTATION_KEY_COMPROMISE and names_other_certificate:
            continue
        return str(report.status.value)
    return None


def certification_level(entry: MetadataBlobPayloadEntry) -> str | None:
    """The latest FIDO certification status reported (FIDO_CERTIFIED_L1, …), if any."""
    levels = [r.status.value for r in entry.status_reports if r.status.value.startswith(_CERTIFIED_PREFIX)]
    return str(levels[-1]) if levels else None


def attestation_roots_pem(entry: MetadataBlobPayloadEntry) -> list[bytes]:
    """The entry's attestationRootCertificates, PEM-encoded for py_webauthn."""
    if entry.metadata_statement is None:
        return []
    return [
        x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
        for der in entry.metadata_statement.attestation_root_certificates
    ]


def provider(entry: MetadataBlobPayloadEntry) -> str | None:
    return entry.metadata_statement.description if entry.metadata_statement else None
