"""A test FIDO Metadata Service: a root CA, a blob-signing certificate under it, and MDS3 blobs
(RS256 JWTs, as the real service signs them) listing the entries a test chooses; and a test
attestation CA for software authenticators that make packed attestations.

Everything is generated with `cryptography` when a test asks; nothing is fetched.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2045, 1, 1, tzinfo=UTC)
AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")  # id-fido-gen-ce-aaguid


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    parts = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Keyturn Tests"),
    ]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def certificate(
    subject: x509.Name,
    key: Any,
    *,
    issuer: x509.Name | None = None,
    issuer_key: Any = None,
    ca: bool,
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    extensions: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    """A certificate for `key`, self-signed unless an issuer is given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extensions or []:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@dataclass
class MetadataService:
    """The test MDS: `root_pem` is what Keyturn is configured to trust (mds_root_certificate_file)."""

    signer_not_after: datetime = NOT_AFTER
    root_key: rsa.RSAPrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)
    signer_key: rsa.RSAPrivateKey = field(init=False)
    signer: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = certificate(_name("Test MDS Root"), self.root_key, ca=True)
        self.signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signer = certificate(
            _name("Test MDS Signer"),
            self.signer_key,
            issuer=self.root.subject,
            issuer_key=self.root_key,
            ca=False,
            not_after=self.signer_not_after,
        )

    @property
    def root_pem(self) -> bytes:
        return pem(self.root)

    def blob(
        self,
        entries: list[dict[str, Any]],
        *,
        serial: int = 1,
        next_update: date = date(2026, 12, 31),
        signer_key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """An MDS3 blob: header {alg RS256, x5c [signer]}, the payload, and its signature."""
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der(self.signer)).decode()]}
        payload = {
            "legalHeader": "Test metadata; not from the FIDO Alliance.",
            "no": serial,
            "nextUpdate": next_update.isoformat(),
            "entries": entries,
        }
        message = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        signature = (signer_key or self.signer_key).sign(
            message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{message}.{_b64url(signature)}"


def entry(
    *,
    description: str,
    roots_pem: list[bytes],
    aaguid: str | None = None,
    key_identifiers: list[str] | None = None,
    statuses: list[str] | tuple[str, ...] = ("FIDO_CERTIFIED_L1",),
    compromised_certificate: bytes | None = None,
) -> dict[str, Any]:
    """One MDS3 entry (FIDO MDS3 §3.1.1) with a minimal metadata statement."""
    roots = [
        base64.b64encode(x509.load_pem_x509_certificate(p).public_bytes(Encoding.DER)).decode()
        for p in roots_pem
    ]
    reports: list[dict[str, Any]] = []
    for status in statuses:
        report: dict[str, Any] = {"status": status, "effectiveDate": "2024-01-01"}
        if status == "ATTESTATION_KEY_COMPROMISE" and compromised_certificate is not None:
            report["certificate"] = base64.b64encode(compromised_certificate).decode()
        reports.append(report)
    statement: dict[str, Any] = {
        "description": description,
        "authenticatorVersion": 1,
        "schema": 3,
        "upv": [{"major": 1, "minor": 1}],
        "attestationTypes": ["basic_full"],
        "userVerificationDetails": [[{"userVerificationMethod": "presence_internal"}]],
        "keyProtection": ["hardware"],
        "matcherProtection": ["on_chip"],
        "attachmentHint": ["external"],
        "tcDisplay": [],
        "attestationRootCertificates": roots,
        "protocolFamily": "fido2",
    }
    result: dict[str, Any] = {
        "metadataStatement": statement,
        "statusReports": reports,
        "timeOfLastStatusChange": "2024-01-01",
    }
    if aaguid is not None:
        result["aaguid"] = aaguid
        statement["aaguid"] = aaguid
    if key_identifiers is not None:
        result["attestationCertificateKeyIdentifiers"] = key_identifiers
        statement["attestationCertificateKeyIdentifiers"] = key_identifiers
    return result


@dataclass
class AttestationCa:
    """A security-key maker's attestation PKI: a root, and one batch certificate per model."""

    root_key: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = certificate(_name("Test Attestation Root"), self.root_key, ca=True)

    @property
    def root_pem(self) -> bytes:
        return pem(self.root)

    def batch(self, aaguid: uuid.UUID) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """An attestation key and its certificate (WebAuthn §8.2.1: OU "Authenticator
        Attestation", CA false, the AAGUID extension)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certificate(
            _name("Test Security Key Batch", unit="Authenticator Attestation"),
            key,
            issuer=self.root.subject,
            issuer_key=self.root_key,
            ca=False,
            extensions=[x509.UnrecognizedExtension(AAGUID_EXTENSION, b"\x04\x10" + aaguid.bytes)],
        )
        return key, der(cert)
