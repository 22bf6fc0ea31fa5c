"""Attestation against the FIDO Metadata Service (`keyturn.passkeys.attestation`, `.mds`).

Recorded registrations, one per attestation format, each accepted under `direct` when a test
MDS blob (signed by a test root generated here) lists its model with its real root, and each
refused when one byte is changed: of the statement's signature, of its certificate chain, of
the AAGUID. Where each recording comes from is in its fixture file (`source`, `platform`):

- packed: YubiKey 5 (Yubico EE cert 737246328), py_webauthn 3.0.1 tests (packed, OKP key);
- fido-u2f: YubiKey on Firefox, py_webauthn 3.0.1 tests;
- tpm: Windows Hello on a Surface Pro 4, py_webauthn@00e5dc8 tests (certificates of 2021–2025);
- apple: an Apple passkey with anonymous attestation, py_webauthn@00e5dc8 tests (a 3-day leaf);
- android-safetynet: Chrome on Android, py_webauthn@00e5dc8 tests (response of 2021-09-03);
- android-key: no recording with a public root was at hand (py_webauthn's own is signed by the
  FIDO conformance tool's unpublished root), so that one is made here with a test PKI (§8.4).

Roots: Yubico U2F Root CA Serial 457200631 (developers.yubico.com/U2F/yubico-u2f-ca-certs.txt)
and Microsoft TPM Root Certificate Authority 2014 (Microsoft's published root) are in
tests/fixtures/attestation/roots/; Apple's and GlobalSign's are py_webauthn's built-in ones.
Expired recordings are checked at the time they were made: py_webauthn builds its X509Store in
one function, `_generate_new_cert_store`, so a test can date it (the library's tests do so too).
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL.crypto import X509Store
from pyasn1.codec.der.encoder import encode as der_encode  # type: ignore[import-untyped]
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, validate_certificate_chain
from webauthn.helpers.asn1.android_key import AuthorizationList, KeyDescription
from webauthn.helpers.known_root_certs import apple_webauthn_root_ca, globalsign_root_ca

from keyturn.errors import CeremonyError, KeyturnError
from keyturn.passkeys.attestation import check_attestation
from keyturn.passkeys.mds import MetadataBlob, certificate_key_identifier, parse_metadata_blob
from tests.support.mds import NOT_AFTER, NOT_BEFORE, MetadataService, certificate, der, entry, pem

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webauthn"
RECORDED = Path(__file__).parent.parent / "fixtures" / "attestation"  # expired: checked as of `verify_at`
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TAMPERED_AAGUID = "11111111-2222-3333-4444-555555555555"


@contextmanager
def certificates_checked_at(moment: datetime) -> Iterator[None]:
    """py_webauthn's certificate chains checked as of `moment` (its X509Store's time)."""
    module = inspect.getmodule(validate_certificate_chain)
    original = module._generate_new_cert_store  # type: ignore[union-attr]

    def dated() -> X509Store:
        store = X509Store()
        store.set_time(moment.replace(tzinfo=None))
        return store

    module._generate_new_cert_store = dated  # type: ignore[union-attr]
    try:
        yield
    finally:
        module._generate_new_cert_store = original  # type: ignore[union-attr]


@dataclass(frozen=True)
class Vector:
    name: str
    fmt: str
    kind: str  # the attestation type Keyturn records
    credential: dict[str, Any]
    roots: list[bytes]
    at: datetime

    @property
    def statement(self) -> dict[str, Any]:
        return cbor2.loads(base64url_to_bytes(self.credential["response"]["attestationObject"]))  # type: ignore[no-any-return]

    @property
    def aaguid(self) -> str:
        return str(uuid.UUID(bytes=self.statement["authData"][37:53]))

    @property
    def leaf(self) -> bytes:
        return bytes(self.statement["attStmt"]["x5c"][0]) if "x5c" in self.statement["attStmt"] else b""


def _root(name: str) -> bytes:
    return (RECORDED / "roots" / name).read_bytes()


def _recorded(file: str, fmt: str, kind: str, roots: list[bytes], at: datetime | None = None) -> Vector:
    data = json.loads(((RECORDED if (RECORDED / file).exists() else FIXTURES) / file).read_text())
    moment = datetime.fromisoformat(data["verify_at"]) if "verify_at" in data else NOW
    return Vector(file, fmt, kind, data["credential"], roots, at or moment)


def android_key_vector() -> Vector:
    """An android-key attestation (§8.4) made with a test PKI: the Keystore's certificate for the
    credential key carries the KeyDescription extension binding the client data hash."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = certificate(x509.Name.from_rfc4514_string("CN=Test Android Root"), root_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    client_data = json.dumps(
        {"type": "webauthn.create", "challenge": "dGVzdA", "origin": "https://id.example.com"}
    ).encode()
    description = KeyDescription()
    description["attestationVersion"] = 3
    description["attestationSecurityLevel"] = 1
    description["keymasterVersion"] = 4
    description["keymasterSecurityLevel"] = 1
    description["attestationChallenge"] = hashlib.sha256(client_data).digest()
    description["uniqueId"] = b""
    description["softwareEnforced"] = AuthorizationList()
    tee = description["teeEnforced"]
    tee["purpose"].append(2)  # KM_PURPOSE_SIGN
    tee["origin"] = 0  # KM_ORIGIN_GENERATED
    extension = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17"), der_encode(description)
    )
    leaf = certificate(
        x509.Name.from_rfc4514_string("CN=Android Keystore Key"),
        key,
        issuer=root.subject,
        issuer_key=root_key,
        ca=False,
        extensions=[extension],
    )
    aaguid = uuid.UUID("b93fd961-f2e6-462f-b122-82002247de78")
    numbers = key.public_key().public_numbers()
    cose = cbor2.dumps(
        {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    )
    credential_id = b"android-key-credential-0001"
    auth_data = (
        hashlib.sha256(b"id.example.com").digest()
        + bytes([0x45])  # UP, UV, AT
        + (0).to_bytes(4, "big")
        + aaguid.bytes
        + len(credential_id).to_bytes(2, "big")
        + credential_id
        + cose
    )
    signature = key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
    statement = {"alg": -7, "sig": signature, "x5c": [der(leaf), der(root)]}
    attestation = cbor2.dumps({"fmt": "android-key", "attStmt": statement, "authData": auth_data})
    credential = {
        "id": bytes_to_base64url(credential_id),
        "rawId": bytes_to_base64url(credential_id),
        "type": "public-key",
        "response": {
            "attestationObject": bytes_to_base64url(attestation),
            "clientDataJSON": bytes_to_base64url(client_data),
        },
    }
    return Vector("generated android-key", "android-key", "basic", credential, [pem(root)], NOW)


VECTORS: dict[str, Callable[[], Vector]] = {
    "packed": lambda: _recorded(
        "reg_packed_full_yubikey_ed25519.json", "packed", "basic", [_root("yubico_u2f_root_457200631.pem")]
    ),
    "fido-u2f": lambda: _recorded(
        "reg_fido-u2f_yubikey_firefox.json", "fido-u2f", "basic", [_root("yubico_u2f_root_457200631.pem")]
    ),
    "tpm": lambda: _recorded(
        "reg_tpm_windows_hello_surface_pro_4.json", "tpm", "attca", [_root("microsoft_tpm_root_2014.pem")]
    ),
    "apple": lambda: _recorded(
        "reg_apple_passkey_anonymous.json", "apple", "anonca", [apple_webauthn_root_ca]
    ),
    "android-safetynet": lambda: _recorded(
        "reg_android-safetynet_chrome_android.json", "android-safetynet", "basic", [globalsign_root_ca]
    ),
    "android-key": android_key_vector,
}


@pytest.fixture(scope="module")
def service() -> MetadataService:
    return MetadataService()


def metadata_for(
    service: MetadataService,
    vector: Vector,
    *,
    statuses: tuple[str, ...] = ("FIDO_CERTIFIED_L1",),
    **extra: Any,
) -> MetadataBlob:
    """A verified test blob listing the vector's model (by AAGUID, or for U2F by its attestation
    certificate's key identifier) with its real root; and, for the AAGUID twin, a second model
    with the same root, so that twin is refused by its signature, not by a missing entry."""
    models: list[dict[str, Any]] = []
    if vector.fmt == "fido-u2f":
        key_id = certificate_key_identifier(vector.leaf).hex()
        models.append(
            entry(
                description="Test U2F key",
                roots_pem=vector.roots,
                key_identifiers=[key_id],
                statuses=statuses,
                **extra,
            )
        )
    else:
        models.append(
            entry(
                description=f"Test {vector.fmt} model",
                roots_pem=vector.roots,
                aaguid=vector.aaguid,
                statuses=statuses,
                **extra,
            )
        )
    models.append(entry(description="Twin model", roots_pem=vector.roots, aaguid=TAMPERED_AAGUID))
    return parse_metadata_blob(service.blob(models).encode(), root_pem=service.root_pem, now=vector.at)


def check(vector: Vector, metadata: MetadataBlob | None, conveyance: Any = "direct") -> Any:
    with certificates_checked_at(vector.at):
        return check_attestation(
            conveyance=conveyance, credential=vector.credential, metadata=metadata, now=vector.at
        )


def _with_statement(vector: Vector, change: Callable[[dict[str, Any]], None]) -> Vector:
    document = vector.statement
    change(document)
    credential = json.loads(json.dumps(vector.credential))
    credential["response"]["attestationObject"] = bytes_to_base64url(cbor2.dumps(document))
    return Vector(vector.name, vector.fmt, vector.kind, credential, vector.roots, vector.at)


def _flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def tamper_signature(vector: Vector) -> Vector:
    def change(document: dict[str, Any]) -> None:
        statement = document["attStmt"]
        if "sig" in statement:
            statement["sig"] = _flip_last(statement["sig"])
        else:  # SafetyNet signs inside its JWS: change its signature segment
            head, body, sig = statement["response"].split(b".")
            raw = bytearray(base64url_to_bytes(sig.decode()))
            raw[-1] ^= 0x01
            statement["response"] = b".".join([head, body, bytes_to_base64url(bytes(raw)).encode()])

    return _with_statement(vector, change)


def tamper_chain(vector: Vector) -> Vector:
    """One byte of the leaf certificate's own signature (its last byte)."""

    def change(document: dict[str, Any]) -> None:
        statement = document["attStmt"]
        if "x5c" in statement:
            statement["x5c"][0] = _flip_last(statement["x5c"][0])
        else:  # SafetyNet carries its chain in the JWS header: change the leaf there
            head, body, sig = statement["response"].split(b".")
            header = json.loads(base64url_to_bytes(head.decode()))
            leaf = base64.b64decode(header["x5c"][0])
            header["x5c"][0] = base64.b64encode(_flip_last(leaf)).decode()
            statement["response"] = b".".join(
                [bytes_to_base64url(json.dumps(header).encode()).encode(), body, sig]
            )

    return _with_statement(vector, change)


def tamper_aaguid(vector: Vector) -> Vector:
    def change(document: dict[str, Any]) -> None:
        auth_data = document["authData"]
        document["authData"] = auth_data[:37] + uuid.UUID(TAMPERED_AAGUID).bytes + auth_data[53:]

    return _with_statement(vector, change)


@pytest.mark.parametrize("fmt", list(VECTORS))
def test_each_format_verifies_against_its_mds_root(service: MetadataService, fmt: str) -> None:
    vector = VECTORS[fmt]()

    result = check(vector, metadata_for(service, vector))

    attestation = result.attestation
    assert (attestation.format, attestation.type, attestation.verified) == (fmt, vector.kind, True)
    assert attestation.provider == ("Test U2F key" if fmt == "fido-u2f" else f"Test {fmt} model")
    assert attestation.certification_level == "FIDO_CERTIFIED_L1"
    assert result.roots_by_format == {fmt: vector.roots}


@pytest.mark.parametrize(
    ("fmt", "tamper"),
    [
        (fmt, tamper)
        for fmt in VECTORS
        for tamper in (tamper_signature, tamper_chain, tamper_aaguid)
        if not (fmt == "apple" and tamper is tamper_signature)
    ],  # apple has no signature: its nonce is in the certificate
)
def test_one_changed_byte_is_refused_as_untrusted(
    service: MetadataService, fmt: str, tamper: Callable[[Vector], Vector]
) -> None:
    vector = VECTORS[fmt]()
    metadata = metadata_for(service, vector)

    with pytest.raises(CeremonyError) as refused:
        check(tamper(vector), metadata)

    assert refused.value.code == "attestation_untrusted"


def test_under_indirect_an_unverifiable_attestation_is_recorded_not_refused(service: MetadataService) -> None:
    vector = VECTORS["packed"]()

    result = check(tamper_chain(vector), metadata_for(service, vector), conveyance="indirect")

    assert result.roots_by_format == {}  # registration's own check must not refuse what is unproved

    assert (result.attestation.format, result.attestation.verified, result.attestation.provider) == (
        "packed",
        False,
        None,
    )


def test_a_root_mds_does_not_list_is_untrusted(service: MetadataService) -> None:
    packed, tpm = VECTORS["packed"](), VECTORS["tpm"]()
    wrong_root = parse_metadata_blob(
        service.blob([entry(description="YubiKey?", roots_pem=tpm.roots, aaguid=packed.aaguid)]).encode(),
        root_pem=service.root_pem,
        now=NOW,
    )

    with pytest.raises(CeremonyError) as refused:
        check(packed, wrong_root)

    assert refused.value.code == "attestation_untrusted"


@pytest.mark.parametrize(
    ("file", "why"),
    [
        ("reg_spec_none_es256.json", "none attestation"),
        ("reg_packed_self_chrome_macos_touchid.json", "self attestation"),
    ],
)
def test_direct_refuses_what_proves_no_model(service: MetadataService, file: str, why: str) -> None:
    vector = _recorded(file, "?", "?", [])

    with pytest.raises(CeremonyError) as refused:
        check(vector, metadata_for(service, VECTORS["packed"]()))

    assert refused.value.code == "attestation_untrusted"
    assert why in (refused.value.detail or "")


def test_direct_refuses_every_attestation_while_no_blob_is_stored() -> None:
    with pytest.raises(CeremonyError) as refused:
        check(VECTORS["packed"](), None)
    assert refused.value.code == "attestation_untrusted"


def test_none_asks_nothing_and_records_nothing() -> None:
    result = check(VECTORS["packed"](), None, conveyance="none")
    assert (result.attestation.format, result.attestation.verified, result.roots_by_format) == (
        "none",
        False,
        {},
    )


@pytest.mark.parametrize(
    "status",
    [
        "REVOKED",
        "USER_VERIFICATION_BYPASS",
        "ATTESTATION_KEY_COMPROMISE",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
    ],
)
@pytest.mark.parametrize("conveyance", ["direct", "indirect"])
def test_a_model_mds_reports_compromised_is_refused(
    service: MetadataService, status: str, conveyance: str
) -> None:
    vector = VECTORS["packed"]()
    metadata = metadata_for(service, vector, statuses=("FIDO_CERTIFIED_L1", status))

    with pytest.raises(CeremonyError) as refused:
        check(vector, metadata, conveyance=conveyance)

    assert refused.value.code == "authenticator_compromised"
    assert status in (refused.value.detail or "")


def test_a_compromised_attestation_key_refuses_only_its_own_certificate(service: MetadataService) -> None:
    vector = VECTORS["packed"]()
    other = MetadataService().signer  # any other certificate

    kept = check(
        vector,
        metadata_for(
            service, vector, statuses=("ATTESTATION_KEY_COMPROMISE",), compromised_certificate=der(other)
        ),
    )
    assert kept.attestation.verified

    with pytest.raises(CeremonyError) as refused:
        check(
            vector,
            metadata_for(
                service, vector, statuses=("ATTESTATION_KEY_COMPROMISE",), compromised_certificate=vector.leaf
            ),
        )
    assert refused.value.code == "authenticator_compromised"


def test_other_statuses_are_accepted_and_the_latest_certification_is_recorded(
    service: MetadataService,
) -> None:
    vector = VECTORS["packed"]()
    metadata = metadata_for(
        service, vector, statuses=("FIDO_CERTIFIED_L1", "UPDATE_AVAILABLE", "FIDO_CERTIFIED_L2")
    )

    assert check(vector, metadata).attestation.certification_level == "FIDO_CERTIFIED_L2"


# --- the blob itself


def test_a_blob_verifies_against_the_configured_root(service: MetadataService) -> None:
    blob = parse_metadata_blob(
        service.blob(
            [entry(description="A", roots_pem=[], aaguid=TAMPERED_AAGUID)],
            serial=42,
            next_update=date(2027, 1, 1),
        ).encode(),
        root_pem=service.root_pem,
        now=NOW,
    )
    assert (blob.serial, blob.next_update, blob.entry_count) == (42, date(2027, 1, 1), 1)
    assert blob.by_aaguid(TAMPERED_AAGUID.upper()) is not None


def test_the_shipped_root_is_the_fido_mds3_root() -> None:
    from keyturn.methods.metadata import root_pem

    shipped = x509.load_pem_x509_certificate(root_pem(None))
    assert shipped.subject.rfc4514_string() == "CN=GlobalSign,O=GlobalSign,OU=GlobalSign Root CA - R3"
    assert (
        shipped.fingerprint(hashes.SHA256()).hex()
        == "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b"
    )


def _bad_blobs(service: MetadataService) -> dict[str, tuple[bytes, bytes]]:
    good = service.blob([])
    head, _body, sig = good.split(".")
    impostor = MetadataService()
    expired = MetadataService(signer_not_after=datetime(2025, 1, 1, tzinfo=UTC))
    return {
        "another root": (good.encode(), impostor.root_pem),
        "signed by another key": (
            service.blob([], signer_key=impostor.signer_key).encode(),
            service.root_pem,
        ),
        "payload changed": (
            f"{head}.{base64.urlsafe_b64encode(b'{}').decode().rstrip('=')}.{sig}".encode(),
            service.root_pem,
        ),
        "signer expired": (expired.blob([]).encode(), expired.root_pem),
        "not a JWT": (b"not a blob", service.root_pem),
        "not MDS3": (impostor.blob([{"nonsense": True}]).encode(), impostor.root_pem),
    }


@pytest.mark.parametrize(
    "case",
    ["another root", "signed by another key", "payload changed", "signer expired", "not a JWT", "not MDS3"],
)
def test_a_blob_that_does_not_verify_is_refused(service: MetadataService, case: str) -> None:
    blob, root = _bad_blobs(service)[case]

    with pytest.raises(KeyturnError) as refused:
        parse_metadata_blob(blob, root_pem=root, now=NOW)

    assert refused.value.code == "mds_blob_invalid"


def test_validity_dates_of_the_test_pki_cover_the_test_clock() -> None:
    assert NOT_BEFORE < NOW < NOT_AFTER
