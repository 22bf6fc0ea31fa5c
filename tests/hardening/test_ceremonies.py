"""Issue 9, the ceremonies: refusals found by trying to break registration and identifier-first.

Each refusal: a 4xx with the usual JSON error, nothing stored (beyond the refusal's own
failure event and spent challenge), and an honest twin that succeeds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes

from keyturn.domain.events import EventType
from tests.support import browser, store
from tests.support.browser import ORIGIN, storage
from tests.support.soft_authenticator import SoftAuthenticator
from tests.unit.test_passkeys_registration import (
    CoseKey,
    attestation_of,
    ec2,
    odd_modulus,
    rsa_key,
    split_auth_data,
    with_attestation,
    with_public_key,
)

EMAIL = "ada@example.com"


def _p384_as_es256() -> CoseKey:
    point = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return ec2(point.x, point.y, crv=2, size=48)


def _off_curve() -> CoseKey:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return ec2(point.x, (point.y + 1) % (2**256))


BAD_KEYS: dict[str, Any] = {
    "EC point not on the curve": _off_curve,
    "7-byte OKP key": lambda: {1: 1, 3: -8, -1: 6, -2: b"\x01" * 7},
    "RSA with e = 1": lambda: rsa_key(odd_modulus(2048), 1),
    "16384-bit RSA modulus": lambda: rsa_key(odd_modulus(16384)),
    "P-384 key declared as ES256": _p384_as_es256,
    "RSA-1024": lambda: rsa_key(odd_modulus(1024)),
}


def _signup_credential(client: TestClient) -> tuple[browser.PageFlow, dict[str, Any]]:
    flow, options = browser.signup_options(client, EMAIL)
    return flow, SoftAuthenticator().create(options, origin=ORIGIN)


def _submit(client: TestClient, flow: browser.PageFlow, credential: dict[str, Any]) -> Any:
    return client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_sign_up_with_an_unacceptable_public_key_is_refused_and_stores_nothing(
    client: TestClient, bad: Any
) -> None:
    flow, honest = _signup_credential(client)
    forged = with_public_key(honest, bytes(cbor2.dumps(bad())))
    before = storage(client)

    refused = _submit(client, flow, forged)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_public_key"
    assert refused.json()["error_description"]
    assert "keyturn_session" not in refused.cookies
    assert storage(client) == before
    [failed] = store.events_of(client, EventType.FAILED_SIGNUP)
    assert failed.details == {"error": "invalid_public_key", "authentication_method": "passkey"}
    # The honest twin, on a fresh challenge, goes through.
    flow, honest = _signup_credential(client)
    assert _submit(client, flow, honest).status_code == 200


def test_adding_a_passkey_with_an_unacceptable_key_is_refused(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, "correct horse battery staple").status_code == 200
    csrf = browser.page_data(client.get("/account"))["csrf"]
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf}).json()
    honest = SoftAuthenticator().create(started["options"], origin=ORIGIN)
    forged = with_public_key(honest, bytes(cbor2.dumps(_off_curve())))
    user = store.user_of(client, EMAIL)

    refused = client.post(
        "/account/passkeys",
        json={"flow_id": started["flow_id"], "credential": forged},
        headers={"x-csrf-token": started["csrf"]},
    )

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_public_key"
    assert store.passkeys_of(client, user.id) == []
    [failed] = store.events_of(client, EventType.WEBAUTHN_ENROLLMENT_FAILED)
    assert failed.details == {"error": "invalid_public_key"}


def test_an_attestation_object_without_its_statement_is_refused(client: TestClient) -> None:
    flow, honest = _signup_credential(client)
    document = attestation_of(honest)
    stripped = with_attestation(honest, {"fmt": document["fmt"], "authData": document["authData"]})
    before = storage(client)

    refused = _submit(client, flow, stripped)

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_response"
    assert storage(client) == before
    assert [e.details["error"] for e in store.events_of(client, EventType.FAILED_SIGNUP)] == [
        "invalid_response"
    ]
    _, key, _ = split_auth_data(document["authData"])
    assert cbor2.loads(key)  # the key itself was fine: the statement's absence was refused


# --- identifier-first: an unknown email looks like a known one -------------------------------------


def _identify(client: TestClient, email: str) -> tuple[Any, dict[str, Any]]:
    flow = browser.open_page(client, "/login")
    response = client.post(
        f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers
    )
    assert response.status_code == 200, response.text
    return response, response.json()


def _shape(answer: dict[str, Any]) -> list[tuple[int, tuple[str, ...]]]:
    return sorted(
        (len(base64url_to_bytes(c["id"])), tuple(c.get("transports") or ()))
        for c in answer["passkey"]["allowCredentials"]
    )


def _accounts(client: TestClient, count: int) -> list[tuple[str, SoftAuthenticator]]:
    """`count` accounts with 1 or 2 passkeys of the software authenticator's shape."""
    made = []
    for i in range(count):
        laptop = SoftAuthenticator(transports=("hybrid", "internal"))
        email = f"known{i}@example.com"
        assert browser.signup_with_passkey(client, laptop, email).status_code == 200
        if i % 3 == 0:  # a third of them have a second passkey
            csrf = browser.page_data(client.get("/account"))["csrf"]
            started = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf}).json()
            phone = SoftAuthenticator(transports=("hybrid", "internal"))
            added = client.post(
                "/account/passkeys",
                json={
                    "flow_id": started["flow_id"],
                    "credential": phone.create(started["options"], origin=ORIGIN),
                },
                headers={"x-csrf-token": started["csrf"]},
            )
            assert added.status_code == 200, added.text
        browser.sign_out(client)
        made.append((email, laptop))
    return made


def test_an_unknown_emails_stand_in_passkeys_are_shaped_like_real_ones(client: TestClient) -> None:
    """Regression (issue 9): an unknown email always got exactly one 16-byte stand-in with fixed
    transports, so one answer told whether an account existed. Stand-ins are now drawn, per
    email and deterministically, from the count and shapes of the stored passkeys."""
    # 128 identifier steps from one address: past the endpoint rate limit, which is not under test
    store.set_tenant(client, "/attack_protection/rate_limits/identifier/per_ip", None)
    known = _accounts(client, 24)
    real_shapes = {shape for email, _ in known for shape in _shape(_identify(client, email)[1])}
    real_counts = {len(_shape(_identify(client, email)[1])) for email, _ in known}

    unknown = [f"nobody{i}@example.com" for i in range(40)]
    answers = {email: _identify(client, email)[1] for email in unknown}

    for email, answer in answers.items():
        shapes = _shape(answer)
        assert set(shapes) <= real_shapes, (email, shapes, real_shapes)
        assert len(shapes) in real_counts
        assert answer["password"] is True and answer["unknown_account"] is False
        assert _shape(_identify(client, email)[1]) == shapes, "the same email, the same answer"
    assert {len(_shape(a)) for a in answers.values()} == real_counts, "both counts occur among stand-ins"


def test_known_and_unknown_answers_have_the_same_headers_work_and_time(client: TestClient) -> None:
    known = _accounts(client, 3)
    _identify(client, "warm-up@example.com")  # what stand-ins look like is read once, then cached
    header_sets = set()
    statements: dict[str, set[int]] = {"known": set(), "unknown": set()}
    seconds: dict[str, list[float]] = {"known": [], "unknown": []}
    for round_ in range(30):  # interleaved, so both share whatever else the machine does
        for kind, email in (("known", known[round_ % 3][0]), ("unknown", f"nobody{round_}@example.com")):
            counter = browser.statement_counter(client)
            started = time.perf_counter()
            response, _ = _identify(client, email)
            seconds[kind].append(time.perf_counter() - started)
            statements[kind].add(counter())
            header_sets.add(
                frozenset(name for name in response.headers if name not in ("content-length", "x-request-id"))
            )

    assert len(header_sets) == 1
    assert statements["known"] == statements["unknown"], statements  # the same queries either way
    known_median, unknown_median = statistics.median(seconds["known"]), statistics.median(seconds["unknown"])
    assert abs(known_median - unknown_median) < max(0.002, 0.3 * min(known_median, unknown_median)), seconds
