"""What registration refuses beyond py_webauthn: bad credential public keys and attestation objects.

Issue 9: the library stores any key the authenticator sends and accepts an attestation object
without `attStmt`. `keyturn.passkeys.cose.check_public_key` refuses every key but a valid
ES256 / EdDSA / RS256 one (`invalid_public_key`); `verify_registration` requires the §6.5
structure (`invalid_response`). Each refusal has its honest twin, built the same way.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.errors import CeremonyError
from keyturn.passkeys.cose import check_public_key
from keyturn.passkeys.options import registration_options
from keyturn.passkeys.response import parse_credential_response
from keyturn.passkeys.verify import RegisteredCredential, check_attestation_object, verify_registration
from tests.support.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator

RP_ID = "login.example.com"
ORIGIN = "https://login.example.com"
CHALLENGE = b"\x33" * 32
FIXTURES = Path(__file__).parents[1] / "fixtures" / "webauthn"
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
CoseKey = dict[int, Any]


def refused(action: Callable[[], object]) -> CeremonyError:
    with pytest.raises(CeremonyError) as caught:
        action()
    return caught.value


# --- COSE keys, by hand ---------------------------------------------------------------------------


def ec2(x: int | bytes, y: int | bytes, *, alg: int = ES256, crv: int = 1, size: int = 32) -> CoseKey:
    def raw(value: int | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.to_bytes(size, "big")

    return {1: 2, 3: alg, -1: crv, -2: raw(x), -3: raw(y)}


def p256_key() -> CoseKey:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return ec2(point.x, point.y)


def okp(x: bytes, *, alg: int = EDDSA, crv: int = 6) -> CoseKey:
    return {1: 1, 3: alg, -1: crv, -2: x}


def ed25519_raw() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def rsa_key(n: int, e: int = 65537) -> CoseKey:
    return {1: 3, 3: RS256, -1: n.to_bytes((n.bit_length() + 7) // 8, "big"), -2: e.to_bytes(3, "big")}


def odd_modulus(bits: int) -> int:
    """A number of exactly `bits` bits, odd: as far as a public-key check can tell, a modulus."""
    return secrets.randbits(bits) | (1 << (bits - 1)) | 1


def rsa_2048() -> CoseKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return rsa_key(private.public_key().public_numbers().n)


def p256_point_with_small_x() -> tuple[int, int]:
    """A point whose x + p still fits in 32 bytes (y² = x³ − 3x + b; p ≡ 3 mod 4)."""
    for x in range(1, 1000):
        rhs = (x**3 - 3 * x + P256_B) % P256_P
        y = pow(rhs, (P256_P + 1) // 4, P256_P)
        if y * y % P256_P == rhs:
            return x, y
    raise AssertionError("no small x found")


def encoded(key: CoseKey) -> bytes:
    return bytes(cbor2.dumps(key))


def test_the_keys_of_every_recorded_credential_are_accepted() -> None:
    keys = []
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        if "credential_public_key_b64url" in fixture:
            keys.append(base64url_to_bytes(fixture["credential_public_key_b64url"]))
    assert {cbor2.loads(key)[3] for key in keys} == {ES256, EDDSA, RS256}
    for key in keys:
        check_public_key(key)


def _negated(key: CoseKey) -> CoseKey:
    """The point's mirror image (x, p − y): on the curve too."""
    return {**key, -3: (P256_P - int.from_bytes(key[-3], "big")).to_bytes(32, "big")}


GOOD_KEYS: dict[str, Callable[[], CoseKey]] = {
    "ES256 P-256": p256_key,
    "ES256 P-256, the other y": lambda: _negated(p256_key()),
    "EdDSA Ed25519": lambda: okp(ed25519_raw()),
    "RS256 2048 bits": rsa_2048,
    "RS256 2048-bit modulus, e = 3": lambda: rsa_key(odd_modulus(2048), 3),
    "RS256 8192-bit modulus": lambda: rsa_key(odd_modulus(8192)),
    "RS256 in 4 bytes of e": lambda: {**rsa_2048(), -2: (65537).to_bytes(4, "big")},
}


@pytest.mark.parametrize("name", GOOD_KEYS)
def test_a_valid_key_is_accepted(name: str) -> None:
    check_public_key(encoded(GOOD_KEYS[name]()))


def _with(key: CoseKey, **changes: Any) -> CoseKey:
    labels = {"kty": 1, "alg": 3, "crv": -1, "x": -2, "y": -3, "n": -1, "e": -2, "d": -4}
    return {**key, **{labels[name]: value for name, value in changes.items()}}


def _without(key: CoseKey, label: int) -> CoseKey:
    return {k: v for k, v in key.items() if k != label}


def _p384_as_es256(crv: int) -> CoseKey:
    point = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return ec2(point.x, point.y, crv=crv, size=48)


def _off_curve() -> CoseKey:
    key = p256_key()
    return _with(key, y=((int.from_bytes(key[-3], "big") + 1) % P256_P).to_bytes(32, "big"))


def _rsa_1024_modulus() -> int:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused here
    return weak.public_key().public_numbers().n


def _unreduced_coordinate() -> CoseKey:
    x, y = p256_point_with_small_x()
    return ec2(x + P256_P, y)


BAD_KEYS: dict[str, Callable[[], bytes]] = {
    # the cases
    "P-384 declared as ES256 (crv P-384)": lambda: encoded(_p384_as_es256(2)),
    "P-384 coordinates declared as P-256": lambda: encoded(_p384_as_es256(1)),
    "EC point not on the curve": lambda: encoded(_off_curve()),
    "OKP key of 7 bytes": lambda: encoded(okp(b"\x01" * 7)),
    "RSA e = 1": lambda: encoded(rsa_key(odd_modulus(2048), 1)),
    "RSA 16384-bit modulus": lambda: encoded(rsa_key(odd_modulus(16384))),
    "RSA-1024": lambda: encoded(rsa_key(_rsa_1024_modulus())),
    # EC2
    "EC coordinate not below p": lambda: encoded(_unreduced_coordinate()),
    "EC2 x of 31 bytes": lambda: encoded(_with(p256_key(), x=b"\x01" * 31)),
    "EC2 y missing": lambda: encoded(_without(p256_key(), -3)),
    "EC2 y an integer": lambda: encoded(_with(p256_key(), y=5)),
    "EC2 crv missing": lambda: encoded(_without(p256_key(), -1)),
    "EC2 with its private part": lambda: encoded(_with(p256_key(), d=b"\x01" * 32)),
    "EC2 point (0, 0)": lambda: encoded(ec2(0, 0)),
    # OKP
    "OKP key of 33 bytes": lambda: encoded(okp(b"\x01" * 33)),
    "OKP Ed448 curve": lambda: encoded(okp(ed25519_raw(), crv=7)),
    "OKP X25519 curve": lambda: encoded(okp(ed25519_raw(), crv=4)),
    "Ed25519 y not below p": lambda: encoded(okp(b"\xff" * 31 + b"\x7f")),
    "Ed25519 bytes naming no point": lambda: encoded(okp((2).to_bytes(32, "little"))),
    "Ed25519 identity (small order)": lambda: encoded(okp(b"\x01" + bytes(31))),
    "Ed25519 point of order 8": lambda: encoded(
        okp(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
    ),
    "Ed25519 x a text string": lambda: encoded({**okp(ed25519_raw()), -2: "x" * 32}),
    # RSA
    "RSA 2047-bit modulus": lambda: encoded(rsa_key(odd_modulus(2047))),
    "RSA 8193-bit modulus": lambda: encoded(rsa_key(odd_modulus(8193))),
    "RSA even modulus": lambda: encoded(rsa_key(odd_modulus(2048) - 1)),
    "RSA e = 2": lambda: encoded(rsa_key(odd_modulus(2048), 2)),
    "RSA e = 65536": lambda: encoded(rsa_key(odd_modulus(2048), 65536)),
    "RSA e = 0": lambda: encoded(rsa_key(odd_modulus(2048), 0)),
    "RSA e ≥ n": lambda: encoded(
        {**rsa_key(odd_modulus(2048)), -2: (odd_modulus(2048) | 1 << 2048).to_bytes(257, "big")}
    ),
    "RSA with a crv": lambda: encoded({**rsa_2048(), -3: b"\x01"}),
    # alg and kty
    "ES256 with kty OKP": lambda: encoded(_with(p256_key(), kty=1)),
    "EdDSA with kty EC2": lambda: encoded(_with(okp(ed25519_raw()), kty=2)),
    "RS256 with kty EC2": lambda: encoded(_with(p256_key(), alg=RS256)),
    "ES256 with kty RSA": lambda: encoded(_with(rsa_2048(), alg=ES256)),
    "ES384 (not offered)": lambda: encoded(_with(_p384_as_es256(2), alg=-35)),
    "PS256 (not offered)": lambda: encoded(_with(rsa_2048(), alg=-37)),
    "alg missing": lambda: encoded(_without(p256_key(), 3)),
    "alg as text": lambda: encoded(_with(p256_key(), alg="ES256")),
    "kty true (CBOR's true == 1)": lambda: encoded(_with(okp(ed25519_raw()), kty=True)),
    "kty as text": lambda: encoded(_with(okp(ed25519_raw()), kty="OKP")),
    # not a key at all
    "empty": lambda: b"",
    "not a map": lambda: bytes(cbor2.dumps([1, 2])),
    "bytes after the key": lambda: encoded(p256_key()) + b"\x00",
    "truncated": lambda: encoded(p256_key())[:-1],
    "raw uncompressed point (U2F)": lambda: b"\x04" + b"\x01" * 64,
    "repeated label": lambda: b"\xa6" + encoded(p256_key())[1:] + encoded({3: ES256})[1:],
}


@pytest.mark.parametrize("name", BAD_KEYS)
def test_an_unacceptable_key_is_refused(name: str) -> None:
    key = BAD_KEYS[name]()
    assert refused(lambda: check_public_key(key)).code == "invalid_public_key"


def test_bounds_of_the_rsa_modulus_and_exponent() -> None:
    for bits in (2048, 3072, 4096, 8192):
        check_public_key(encoded(rsa_key(odd_modulus(bits))))
    n = odd_modulus(2048)
    check_public_key(encoded({**rsa_key(n), -2: (n - 2).to_bytes(256, "big")}))  # the largest odd e < n
    assert refused(lambda: check_public_key(encoded({**rsa_key(n), -2: n.to_bytes(256, "big")}))).code == (
        "invalid_public_key"
    )


# --- the same keys, through a registration --------------------------------------------------------


def soft_credential(alg: int = ES256) -> dict[str, Any]:
    options = registration_options(
        rp_id=RP_ID,
        rp_name="Example",
        user_handle=b"owner-handle",
        user_name="ada@example.com",
        challenge=CHALLENGE,
        exclude=[],
        user_verification="required",
    )
    credential: dict[str, Any] = SoftAuthenticator(alg=alg).create(options, origin=ORIGIN)
    return credential


def register(credential: dict[str, Any]) -> RegisteredCredential:
    return verify_registration(
        parse_credential_response(credential),
        challenge=CHALLENGE,
        rp_id=RP_ID,
        origins=[ORIGIN],
        require_user_verification=True,
    )


def attestation_of(credential: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
    return document


def with_attestation_bytes(credential: dict[str, Any], data: bytes) -> dict[str, Any]:
    return {
        **credential,
        "response": {**credential["response"], "attestationObject": bytes_to_base64url(data)},
    }


def with_attestation(credential: dict[str, Any], document: object) -> dict[str, Any]:
    return with_attestation_bytes(credential, cbor2.dumps(document))


def split_auth_data(auth_data: bytes) -> tuple[bytes, bytes, bytes]:
    """(everything before the credential public key, the key, anything after it)."""
    id_length = int.from_bytes(auth_data[53:55], "big")
    start = 55 + id_length
    stream = io.BytesIO(auth_data[start:])
    cbor2.CBORDecoder(stream).decode()
    end = start + stream.tell()
    return auth_data[:start], auth_data[start:end], auth_data[end:]


def with_public_key(credential: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The credential with another COSE key in its authenticator data ("none" signs nothing)."""
    document = attestation_of(credential)
    before, _, after = split_auth_data(document["authData"])
    return with_attestation(credential, {**document, "authData": before + key + after})


@pytest.mark.parametrize("alg", [ES256, EDDSA, RS256])
def test_a_soft_authenticator_key_re_inserted_is_accepted(alg: int) -> None:
    """The honest twin of every key swapped in below."""
    credential = soft_credential(alg)
    _, key, _ = split_auth_data(attestation_of(credential)["authData"])
    assert register(with_public_key(credential, key)).public_key == key


@pytest.mark.parametrize("name", GOOD_KEYS)
def test_registration_stores_a_valid_key(name: str) -> None:
    key = encoded(GOOD_KEYS[name]())
    assert register(with_public_key(soft_credential(), key)).public_key == key


REGISTRATION_BAD_KEYS = [
    "P-384 declared as ES256 (crv P-384)",
    "P-384 coordinates declared as P-256",
    "EC point not on the curve",
    "EC coordinate not below p",
    "OKP key of 7 bytes",
    "Ed25519 bytes naming no point",
    "Ed25519 identity (small order)",
    "RSA e = 1",
    "RSA 16384-bit modulus",
    "RSA-1024",
    "RSA even modulus",
    "EC2 with its private part",
    "OKP Ed448 curve",
]


@pytest.mark.parametrize("name", REGISTRATION_BAD_KEYS)
def test_registration_refuses_an_unacceptable_key(name: str) -> None:
    """What the library would have stored (issue 9): refused with `invalid_public_key`."""
    credential = with_public_key(soft_credential(), BAD_KEYS[name]())
    assert refused(lambda: register(credential)).code == "invalid_public_key"


def test_a_key_the_library_cannot_read_stays_a_verification_failure() -> None:
    """An algorithm not offered is refused by py_webauthn first, with its code."""
    credential = with_public_key(soft_credential(), BAD_KEYS["ES384 (not offered)"]())
    assert refused(lambda: register(credential)).code == "passkey_verification_failed"


def _registering(name: str) -> Callable[[dict[str, Any]], RegisteredCredential]:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text())
    return lambda credential: verify_registration(
        parse_credential_response(credential),
        challenge=base64url_to_bytes(fixture["expected_challenge_b64url"]),
        rp_id=fixture["expected_rp_id"],
        origins=[fixture["expected_origin"]],
        require_user_verification=fixture["require_user_verification"],
    )


def _edit_key(credential: dict[str, Any], edit: Callable[[CoseKey], CoseKey]) -> dict[str, Any]:
    _, key, _ = split_auth_data(attestation_of(credential)["authData"])
    return with_public_key(credential, encoded(edit(cbor2.loads(key))))


RECORDED_KEY_EDITS: dict[str, tuple[str, Callable[[CoseKey], CoseKey]]] = {
    "iCloud Keychain key moved off the curve": (
        "reg_none_icloud_keychain_passkey",
        lambda key: {**key, -3: bytes([key[-3][0] ^ 1]) + key[-3][1:]},
    ),
    "Android key declared P-384": ("reg_none_firefox_android", lambda key: {**key, -1: 2}),
    "Windows Hello RSA key with e = 1": (
        "reg_none_windows_hello_rsa",
        lambda key: {**key, -2: b"\x00\x00\x01"},
    ),
    "Windows Hello RSA key cut to 1024 bits": (
        "reg_none_windows_hello_rsa",
        lambda key: {**key, -1: key[-1][:128]},
    ),
    "Android app key (with extensions after it) off the curve": (
        "reg_none_android_fido2api_devicepubkey",
        lambda key: {**key, -2: key[-3], -3: key[-2]},
    ),
}


@pytest.mark.parametrize("name", RECORDED_KEY_EDITS)
def test_a_recorded_registration_with_an_edited_key_is_refused(name: str) -> None:
    fixture_name, edit = RECORDED_KEY_EDITS[name]
    run = _registering(fixture_name)
    credential = json.loads((FIXTURES / f"{fixture_name}.json").read_text())["credential"]
    honest = run(_edit_key(credential, lambda key: key))  # the twin: the same key, re-inserted
    assert honest == run(credential)
    assert refused(lambda: run(_edit_key(credential, edit))).code == "invalid_public_key"


# --- the attestation object's structure (WebAuthn L3 §6.5) ----------------------------------------


def test_the_three_members_in_any_order_are_accepted() -> None:
    credential = soft_credential()
    document = attestation_of(credential)
    register(with_attestation(credential, {k: document[k] for k in ("authData", "attStmt", "fmt")}))


ATTESTATION_EDITS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "attStmt missing": lambda document: cbor2.dumps({"fmt": "none", "authData": document["authData"]}),
    "a fourth member": lambda document: cbor2.dumps({**document, "ep": True}),
    "attStmt a list": lambda document: cbor2.dumps({**document, "attStmt": []}),
    "none with an unknown attStmt member": lambda document: cbor2.dumps({**document, "attStmt": {"x": 1}}),
    "a byte after the map": lambda document: cbor2.dumps(document) + b"\x00",
    "a second CBOR item after the map": lambda document: cbor2.dumps(document) + cbor2.dumps({}),
}


@pytest.mark.parametrize("edit", ATTESTATION_EDITS)
def test_an_attestation_object_the_library_lets_through_is_refused(edit: str) -> None:
    credential = soft_credential()
    edited = with_attestation_bytes(credential, ATTESTATION_EDITS[edit](attestation_of(credential)))
    assert refused(lambda: register(edited)).code == "invalid_response"


@pytest.mark.parametrize(
    "document",
    [
        {"fmt": "none", "attStmt": {}, "authData": "text"},
        {"fmt": b"none", "attStmt": {}, "authData": b"\x00" * 37},
        {"fmt": "none", "attStmt": {}, "authData": b"\x00" * 37, "x": 1},
        {"fmt": "none", "attStmt": None, "authData": b"\x00" * 37},
        ["none", {}, b"\x00" * 37],
        "none",
    ],
)
def test_check_attestation_object_refuses_any_other_shape(document: object) -> None:
    error = refused(lambda: check_attestation_object(cbor2.dumps(document)))
    assert error.code == "invalid_response"


def test_check_attestation_object_accepts_a_full_attestation_statement() -> None:
    check_attestation_object(
        cbor2.dumps({"fmt": "packed", "attStmt": {"alg": -7, "sig": b"s"}, "authData": b""})
    )


@pytest.mark.parametrize(
    "name", ["reg_none_icloud_keychain_passkey", "reg_none_windows_hello_rsa", "reg_spec_none_es256"]
)
def test_a_recorded_attestation_object_without_attstmt_is_refused(name: str) -> None:
    run = _registering(name)
    credential = json.loads((FIXTURES / f"{name}.json").read_text())["credential"]
    document = attestation_of(credential)
    assert run(with_attestation(credential, document)) == run(credential)  # the honest twin
    stripped = with_attestation(credential, {"fmt": document["fmt"], "authData": document["authData"]})
    assert refused(lambda: run(stripped)).code == "invalid_response"
