"""Checking a credential public key (a COSE_Key, RFC 9052 §7 / RFC 9053) before it is stored.

py_webauthn decodes the key but stores whatever the authenticator sent: a point off the
curve, a short Ed25519 key or RSA with e = 1 would be kept and fail (or be weak) at every
sign-in. Keyturn accepts exactly the three algorithms it offers, each with its one key type:
ES256 (−7) on EC2 P-256, EdDSA (−8) on OKP Ed25519, RS256 (−257) on RSA of 2048–8192 bits.
"""

from __future__ import annotations

import io
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyturn.errors import CeremonyError

ES256, EDDSA, RS256 = -7, -8, -257
_KTY, _ALG = 1, 3
_EC2, _OKP, _RSA = 2, 1, 3
_P256, _ED25519 = 1, 6
_KTY_OF_ALG: dict[object, int] = {ES256: _EC2, EDDSA: _OKP, RS256: _RSA}
# Label -1 is crv (EC2, OKP) or n (RSA); -2 is x or e; -3 is y. Any other label (a private
# part, say) makes the key unacceptable.
_LABELS = {_EC2: {_KTY, _ALG, -1, -2, -3}, _OKP: {_KTY, _ALG, -1, -2}, _RSA: {_KTY, _ALG, -1, -2}}
_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
MIN_RSA_BITS, MAX_RSA_BITS = 2048, 8192

# What decoding untrusted CBOR can raise (cbor2's errors are ValueErrors or CBORErrors).
CBOR_ERRORS = (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, EOFError)


def decode_single_item(data: bytes) -> Any:
    """Exactly one CBOR data item, nothing after it, no repeated map keys.

    Raises ValueError (or one of `CBOR_ERRORS`) when `data` is anything else.
    """
    stream = io.BytesIO(data)
    item = cbor2.CBORDecoder(stream, allow_duplicate_keys=False).decode()
    if stream.tell() != len(data):
        raise ValueError(f"{len(data) - stream.tell()} bytes after the CBOR item")
    return item


def unacceptable(detail: str) -> CeremonyError:
    return CeremonyError(code="invalid_public_key", detail=detail)


def _is_int(value: object) -> bool:
    return type(value) is int  # CBOR true/false decode to bool, a subclass of int


def _bytes(key: dict[Any, Any], label: int, name: str) -> bytes:
    value = key.get(label)
    if type(value) is not bytes:
        raise unacceptable(f"{name} is not a byte string")
    return value


def check_public_key(cose_key: bytes) -> None:
    """Refuse (`invalid_public_key`) any key but a valid ES256, EdDSA or RS256 one.

    Raises:
        CeremonyError `invalid_public_key`: not one CBOR map; labels other than the key
            type's; alg, kty and crv that do not agree; an EC point not on P-256; an
            Ed25519 key that is not 32 bytes, does not decode, or is of small order; an
            RSA modulus outside 2048–8192 bits or even, or an exponent not odd, < 3 or ≥ n.
    """
    try:
        key = decode_single_item(cose_key)
    except CBOR_ERRORS as exc:
        raise unacceptable(f"not CBOR: {exc!r}") from exc
    if not isinstance(key, dict):
        raise unacceptable("not a CBOR map")
    kty, alg = key.get(_KTY), key.get(_ALG)
    if not _is_int(kty) or not _is_int(alg):
        raise unacceptable(f"kty {kty!r} / alg {alg!r} are not integers")
    expected_kty = _KTY_OF_ALG.get(alg)
    if expected_kty is None:
        raise unacceptable(f"alg {alg} is not one Keyturn offers")
    if kty != expected_kty:
        raise unacceptable(f"alg {alg} with kty {kty}")
    extra = set(key) - _LABELS[expected_kty]
    if extra:
        raise unacceptable(f"unexpected labels {sorted(map(repr, extra))}")
    if expected_kty == _EC2:
        _check_p256(key)
    elif expected_kty == _OKP:
        _check_ed25519(key)
    else:
        _check_rsa(key)


def _check_p256(key: dict[Any, Any]) -> None:
    if not _is_int(key.get(-1)) or key[-1] != _P256:
        raise unacceptable(f"ES256 on curve {key.get(-1)!r}, not P-256")
    x, y = _bytes(key, -2, "x"), _bytes(key, -3, "y")
    if len(x) != 32 or len(y) != 32:
        raise unacceptable(f"P-256 coordinates of {len(x)} and {len(y)} bytes")
    xi, yi = int.from_bytes(x, "big"), int.from_bytes(y, "big")
    if xi >= _P256_P or yi >= _P256_P:  # `cryptography` would silently reduce them
        raise unacceptable("P-256 coordinate not below the field prime")
    try:
        ec.EllipticCurvePublicNumbers(xi, yi, ec.SECP256R1()).public_key()
    except ValueError as exc:
        raise unacceptable("point not on P-256") from exc


def _check_ed25519(key: dict[Any, Any]) -> None:
    if not _is_int(key.get(-1)) or key[-1] != _ED25519:
        raise unacceptable(f"EdDSA on curve {key.get(-1)!r}, not Ed25519")
    x = _bytes(key, -2, "x")
    if len(x) != 32:
        raise unacceptable(f"Ed25519 key of {len(x)} bytes")
    point = _ed25519_decode(x)  # `cryptography` loads any 32 bytes without looking
    if point is None:
        raise unacceptable("Ed25519 key is not a point on the curve")
    for _ in range(3):  # times the cofactor 8: small-order points land on the identity
        point = _ed25519_add(point, point)
    if point == (0, 1):
        raise unacceptable("Ed25519 key of small order")


def _check_rsa(key: dict[Any, Any]) -> None:
    n = int.from_bytes(_bytes(key, -1, "n"), "big")
    e = int.from_bytes(_bytes(key, -2, "e"), "big")
    if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
        raise unacceptable(f"RSA modulus of {n.bit_length()} bits")
    if n % 2 == 0:
        raise unacceptable("RSA modulus is even")
    if e < 3 or e % 2 == 0 or e >= n:
        raise unacceptable(f"RSA exponent {e}" if e < 2**64 else f"RSA exponent of {e.bit_length()} bits")
    try:
        rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise unacceptable("RSA key refused by cryptography") from exc


# --- Ed25519 point arithmetic (RFC 8032 §5.1), only to decide whether a key can be a key.
_ED_P = 2**255 - 19
_ED_D = -121665 * pow(121666, _ED_P - 2, _ED_P) % _ED_P
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)


def _ed25519_decode(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3: the point a 32-byte encoding names, or None when it names none."""
    y = int.from_bytes(encoded, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _ED_P:
        return None
    u, v = (y * y - 1) % _ED_P, (_ED_D * y * y + 1) % _ED_P
    x = u * pow(v, 3, _ED_P) * pow(u * pow(v, 7, _ED_P), (_ED_P - 5) // 8, _ED_P) % _ED_P
    if (v * x * x - u) % _ED_P != 0:
        x = x * _ED_SQRT_M1 % _ED_P
        if (v * x * x - u) % _ED_P != 0:
            return None
    if x == 0 and sign:
        return None
    return (_ED_P - x if x % 2 != sign else x), y


def _ed25519_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Affine addition on −x² + y² = 1 + d·x²·y² (complete: d is not a square)."""
    (x1, y1), (x2, y2) = a, b
    t = _ED_D * x1 * x2 * y1 * y2 % _ED_P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _ED_P - 2, _ED_P) % _ED_P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _ED_P - 2, _ED_P) % _ED_P
    return x3, y3
