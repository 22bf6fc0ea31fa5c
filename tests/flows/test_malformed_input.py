"""Malformed requests to the passkey calls: always a 4xx JSON refusal, never a 500, nothing stored.

Each case starts from a genuine credential for a live challenge and breaks one thing, so the
request gets as far into the ceremony as that one defect allows.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from httpx2 import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.domain.identity import Passkey
from tests.support import browser, store
from tests.support.browser import ORIGIN
from tests.support.soft_authenticator import SoftAuthenticator

ADA = "ada@example.com"
MALLORY = "mallory@example.com"

Mutation = Callable[[dict[str, Any]], object]  # a valid request body → the body to send


# --- small local helpers -------------------------------------------------------------


@dataclass
class Attempt:
    """A live ceremony ready to submit: where to, the valid body, and how to tell nothing changed."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    assert_nothing_stored: Callable[[], None]


def send(client: TestClient, attempt: Attempt, payload: object) -> Response:
    if isinstance(payload, bytes):
        headers = {**attempt.headers, "content-type": "application/json"}
        return client.post(attempt.url, content=payload, headers=headers)
    return client.post(attempt.url, json=payload, headers=attempt.headers)


def assert_refused(response: Response, code: str | None = None) -> None:
    """A 4xx JSON error with a code and a description, and no session."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    if code is not None:
        assert body["error"] == code, body
    assert "keyturn_session" not in response.cookies


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def raw(data: bytes) -> Mutation:
    return lambda body: data


def credential_is(value: object) -> Mutation:
    return lambda body: {**body, "credential": value}


def credential_with(key: str, value: object) -> Mutation:
    return lambda body: {**body, "credential": {**body["credential"], key: value}}


def credential_without(key: str) -> Mutation:
    return lambda body: {**body, "credential": {k: v for k, v in body["credential"].items() if k != key}}


def response_with(key: str, value: object) -> Mutation:
    def mutate(body: dict[str, Any]) -> object:
        return {**body, "credential": {**body["credential"], "response": {**response_of(body), key: value}}}

    return mutate


def response_without(key: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> object:
        response = {k: v for k, v in response_of(body).items() if k != key}
        return {**body, "credential": {**body["credential"], "response": response}}

    return mutate


def response_of(body: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = body["credential"]["response"]
    return response


def client_data_edited(edit: Callable[[dict[str, Any]], None]) -> Mutation:
    """Change the decoded clientDataJSON (keeping its live challenge unless `edit` touches it)."""

    def mutate(body: dict[str, Any]) -> object:
        data = json.loads(base64url_to_bytes(response_of(body)["clientDataJSON"]))
        edit(data)
        return response_with("clientDataJSON", b64(json.dumps(data).encode()))(body)

    return mutate


def client_data_extended(member: bytes) -> Mutation:
    """Append raw bytes as one more member of clientDataJSON (for JSON json.dumps cannot write)."""

    def mutate(body: dict[str, Any]) -> object:
        data = base64url_to_bytes(response_of(body)["clientDataJSON"])
        return response_with("clientDataJSON", b64(data[:-1] + b"," + member + b"}"))(body)

    return mutate


def bytes_field_edited(key: str, edit: Callable[[bytes], bytes]) -> Mutation:
    return lambda body: response_with(key, b64(edit(base64url_to_bytes(response_of(body)[key]))))(body)


def attestation_is(document: object) -> Mutation:
    return response_with("attestationObject", b64(cbor2.dumps(document)))


def deleting(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.pop(key)


def setting(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.update({key: value})


# --- live ceremonies to break ------------------------------------------------------------


@pytest.fixture
def ada(client: TestClient, authenticator: SoftAuthenticator) -> Passkey:
    response = browser.signup_with_passkey(client, authenticator, ADA)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    passkey = store.write(client, lambda tx: tx.find_passkey(next(iter(authenticator.credentials))))
    assert passkey is not None
    return passkey


def sign_in_attempt(client: TestClient, authenticator: SoftAuthenticator, passkey: Passkey) -> Attempt:
    flow, options = browser.login_options(client)
    credential = authenticator.get(options, origin=ORIGIN)

    def assert_nothing_stored() -> None:
        assert store.write(client, lambda tx: tx.find_passkey(passkey.credential_id)) == passkey

    return Attempt(
        url=f"/login/flows/{flow.flow_id}",
        headers=flow.headers,
        body={"method": "passkey", "credential": credential},
        assert_nothing_stored=assert_nothing_stored,
    )


def signup_attempt(client: TestClient, email: str = MALLORY) -> Attempt:
    flow, options = browser.signup_options(client, email)
    credential = SoftAuthenticator().create(options, origin=ORIGIN)
    passkeys_before = store.write(client, lambda tx: tx.count_passkeys())

    def assert_nothing_stored() -> None:
        assert store.write(client, lambda tx: tx.find_user_by_email(email)) is None
        assert store.write(client, lambda tx: tx.count_passkeys()) == passkeys_before

    return Attempt(
        url=f"/signup/flows/{flow.flow_id}",
        headers=flow.headers,
        body={"method": "passkey", "credential": credential},
        assert_nothing_stored=assert_nothing_stored,
    )


@pytest.fixture
def sign_in(client: TestClient, authenticator: SoftAuthenticator, ada: Passkey) -> Attempt:
    return sign_in_attempt(client, authenticator, ada)


@pytest.fixture
def signup(client: TestClient) -> Attempt:
    return signup_attempt(client)


# --- the tables ----------------------------------------------------------------------------

# Broken the same way for both ceremonies: (mutation, expected error code).
COMMON = {
    "body not JSON": (raw(b"method=passkey"), "invalid_json"),
    "body not UTF-8": (raw(b'\xff\xfe{"method":"passkey"}'), "invalid_characters"),  # refused at the edge
    "body empty": (raw(b""), "invalid_json"),
    "body a JSON array": (raw(b'["passkey"]'), "invalid_json"),
    "body a JSON string": (raw(b'"passkey"'), "invalid_json"),
    "body JSON null": (raw(b"null"), "invalid_json"),
    "body nested 20000 deep": (raw(b"[" * 20_000 + b"]" * 20_000), "invalid_json"),  # 40 KB: under the cap
    "body with a 5000-digit number": (raw(b'{"method":"passkey","n":' + b"7" * 5000 + b"}"), "invalid_json"),
    "method missing": (lambda body: {"credential": body["credential"]}, "unknown_method"),
    "method a list": (lambda body: {**body, "method": ["passkey"]}, "unknown_method"),
    "credential missing": (lambda body: {"method": "passkey"}, "invalid_response"),
    "credential null": (credential_is(None), "invalid_response"),
    "credential a string": (credential_is("eyJpZCI6IngifQ"), "invalid_response"),
    "credential a number": (credential_is(7), "invalid_response"),
    "credential a list": (credential_is([]), "invalid_response"),
    "credential empty": (credential_is({}), "invalid_response"),
    "response missing": (credential_without("response"), "invalid_response"),
    "response a string": (credential_with("response", "{}"), "invalid_response"),
    "type missing": (credential_without("type"), "invalid_response"),
    "type not public-key": (credential_with("type", "password"), "invalid_response"),
    "id missing": (credential_without("id"), "invalid_response"),
    "rawId missing": (credential_without("rawId"), "invalid_response"),
    "rawId a number": (credential_with("rawId", 12345), "invalid_response"),
    "rawId of non-base64url characters": (credential_with("rawId", "***"), "invalid_response"),
    "rawId one character": (credential_with("rawId", "A"), "invalid_response"),
    "rawId not ASCII": (credential_with("rawId", "ünïcödé"), "invalid_response"),
    "id of non-base64url characters": (credential_with("id", "%%%"), "invalid_response"),
    "rawId differs from id": (credential_with("rawId", b64(b"another credential")), "invalid_response"),
    "clientDataJSON missing": (response_without("clientDataJSON"), "invalid_response"),
    "clientDataJSON a number": (response_with("clientDataJSON", 7), "invalid_response"),
    "clientDataJSON of impossible base64url length": (
        response_with("clientDataJSON", "not base64!"),
        "invalid_response",
    ),
    "clientDataJSON not JSON": (response_with("clientDataJSON", b64(b"type=webauthn")), "invalid_response"),
    "clientDataJSON not UTF-8": (response_with("clientDataJSON", b64(b"\xff\xfe\xfd")), "invalid_response"),
    "clientDataJSON a JSON array": (response_with("clientDataJSON", b64(b"[]")), "invalid_response"),
    "clientDataJSON a JSON string": (response_with("clientDataJSON", b64(b'"x"')), "invalid_response"),
    "clientDataJSON nested 5000 deep": (
        response_with("clientDataJSON", b64(b"[" * 5000 + b"]" * 5000)),
        "invalid_response",
    ),
    "clientDataJSON with a 5000-digit number": (
        client_data_extended(b'"n":' + b"7" * 5000),
        "invalid_response",
    ),
    "challenge missing": (client_data_edited(deleting("challenge")), "invalid_response"),
    "challenge a number": (client_data_edited(setting("challenge", 7)), "invalid_response"),
    # base64url_to_bytes drops characters outside the alphabet: "***" reads as no bytes at all.
    "challenge of non-base64url characters": (
        client_data_edited(setting("challenge", "***")),
        "challenge_invalid",
    ),
    "challenge of impossible length": (client_data_edited(setting("challenge", "A")), "invalid_response"),
    "client data type missing": (client_data_edited(deleting("type")), "invalid_response"),
    "client data type wrong": (
        client_data_edited(setting("type", "payment.get")),
        "passkey_verification_failed",
    ),
    "origin missing": (client_data_edited(deleting("origin")), "invalid_response"),
    "origin a list": (client_data_edited(setting("origin", [ORIGIN])), "invalid_response"),
    "topOrigin a number": (client_data_edited(setting("topOrigin", 1)), "invalid_response"),
    "body over 64 KiB": (
        lambda body: json.dumps({**body, "padding": "x" * 65_536}).encode(),
        "request_too_large",
    ),
}

AUTH_DATA_HEADER = 37  # rpIdHash (32) + flags (1) + signCount (4)

SIGNUP_ONLY = {
    "attestationObject missing": (response_without("attestationObject"), "passkey_verification_failed"),
    "attestationObject a number": (response_with("attestationObject", 7), "passkey_verification_failed"),
    "attestationObject of non-base64url characters": (
        response_with("attestationObject", "@@@"),
        "passkey_verification_failed",
    ),
    "attestationObject random bytes": (
        response_with("attestationObject", b64(bytes(range(7, 250, 3)))),
        "passkey_verification_failed",
    ),
    "attestationObject truncated CBOR": (
        bytes_field_edited("attestationObject", lambda data: data[: len(data) // 2]),
        "passkey_verification_failed",
    ),
    "attestationObject a CBOR array": (attestation_is(["none", {}, b""]), "passkey_verification_failed"),
    "attestationObject an empty CBOR map": (attestation_is({}), "passkey_verification_failed"),
    "attestationObject unknown fmt": (
        lambda body: attestation_is({**attestation(body), "fmt": "made-up"})(body),
        "passkey_verification_failed",
    ),
    "authData too short": (
        lambda body: attestation_is({**attestation(body), "authData": b"\x00" * 10})(body),
        "passkey_verification_failed",
    ),
    "authData without its credential": (
        lambda body: attestation_is(
            {**attestation(body), "authData": attestation(body)["authData"][:AUTH_DATA_HEADER]}
        )(body),
        "passkey_verification_failed",
    ),
    "transports a number": (response_with("transports", 7), "invalid_response"),
    "transports true": (response_with("transports", True), "invalid_response"),
}

SIGN_IN_ONLY = {
    "authenticatorData missing": (response_without("authenticatorData"), "passkey_verification_failed"),
    "authenticatorData of non-base64url characters": (
        response_with("authenticatorData", "!!"),
        "passkey_verification_failed",
    ),
    "authenticatorData empty": (response_with("authenticatorData", ""), "passkey_verification_failed"),
    "authenticatorData too short": (
        bytes_field_edited("authenticatorData", lambda data: data[:10]),
        "passkey_verification_failed",
    ),
    "authenticatorData cut after the flags": (
        bytes_field_edited("authenticatorData", lambda data: data[: AUTH_DATA_HEADER - 4]),
        "passkey_verification_failed",
    ),
    "authenticatorData with trailing garbage": (
        bytes_field_edited("authenticatorData", lambda data: data + b"\xa1\x01"),
        "passkey_verification_failed",
    ),
    "signature missing": (response_without("signature"), "passkey_verification_failed"),
    "signature empty": (response_with("signature", ""), "passkey_verification_failed"),
    "signature of non-base64url characters": (
        response_with("signature", "~~~"),
        "passkey_verification_failed",
    ),
    "signature random bytes": (
        response_with("signature", b64(bytes(range(72)))),
        "passkey_verification_failed",
    ),
    "userHandle of non-base64url characters": (response_with("userHandle", "***"), "user_handle_mismatch"),
    "userHandle of impossible length": (response_with("userHandle", "A"), "invalid_response"),
    "userHandle a number": (response_with("userHandle", 7), "invalid_response"),
    "userHandle an object": (response_with("userHandle", {"id": "x"}), "invalid_response"),
}


def attestation(body: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = cbor2.loads(base64url_to_bytes(response_of(body)["attestationObject"]))
    return document


def cases(*tables: dict[str, tuple[Mutation, str]]) -> list[Any]:
    merged = {name: case for table in tables for name, case in table.items()}
    return [pytest.param(mutation, code, id=name) for name, (mutation, code) in merged.items()]


@pytest.mark.parametrize(("mutation", "code"), cases(COMMON, SIGN_IN_ONLY))
def test_malformed_sign_in_is_refused_cleanly(
    client: TestClient, sign_in: Attempt, mutation: Mutation, code: str
) -> None:
    response = send(client, sign_in, mutation(copy.deepcopy(sign_in.body)))

    assert_refused(response, code)
    sign_in.assert_nothing_stored()


@pytest.mark.parametrize(("mutation", "code"), cases(COMMON, SIGNUP_ONLY))
def test_malformed_signup_is_refused_cleanly(
    client: TestClient, signup: Attempt, mutation: Mutation, code: str
) -> None:
    response = send(client, signup, mutation(copy.deepcopy(signup.body)))

    assert_refused(response, code)
    signup.assert_nothing_stored()


def test_the_unbroken_bodies_are_accepted(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    """Guards the tables above: each case breaks a body that would otherwise succeed."""
    attempt = signup_attempt(client)
    assert send(client, attempt, attempt.body).status_code == 200
    browser.sign_out(client)
    attempt = sign_in_attempt(client, authenticator, ada)
    assert send(client, attempt, attempt.body).status_code == 200


# --- flow ids and emails -----------------------------------------------------------------

ODD_FLOW_IDS = {
    "NUL byte": "0000%000000",
    "very long": "f" * 5000,
    "not ASCII": "%C3%BCber",
    "SQL": "%27%20OR%20%271%27%3D%271",
}


@pytest.mark.parametrize("flow_id", ODD_FLOW_IDS.values(), ids=ODD_FLOW_IDS.keys())
@pytest.mark.parametrize(
    "path", ["/login/flows/{id}", "/signup/flows/{id}", "/login/flows/{id}/passkey/options"]
)
def test_an_odd_flow_id_is_an_expired_flow(client: TestClient, path: str, flow_id: str) -> None:
    """Any id Keyturn did not seal is an expired flow, except text no database can hold (a NUL),
    which the edge refuses before any route runs."""
    page = browser.open_page(client, "/login")

    response = client.post(path.format(id=flow_id), json={"method": "passkey"}, headers=page.headers)

    assert_refused(response, "invalid_characters" if "%00" in flow_id else "flow_expired")


@pytest.mark.parametrize(
    "flow_id", ["ab\x00cd", "f" * 5000, 7, None], ids=["NUL byte", "very long", "number", "null"]
)
def test_adding_a_passkey_to_an_odd_flow_id_is_an_expired_flow(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, flow_id: object
) -> None:
    assert browser.login_with_passkey(client, authenticator).status_code == 200

    response = client.post("/account/passkeys", json={"flow_id": flow_id, "credential": {}})

    nul = isinstance(flow_id, str) and "\x00" in flow_id
    assert_refused(response, "invalid_characters" if nul else "flow_expired")


BAD_EMAILS = {
    "missing": None,
    "a number": 7,
    "a list": ["ada@example.com"],
    "empty": "",
    "no at sign": "ada.example.com",
    "too long": "a" * 64 + "@" + "b" * 250 + ".com",
    "NUL byte": "ada\x00@example.com",
    "newline": "ada@example.com\nbcc:eve@example.com",
}


@pytest.mark.parametrize("email", BAD_EMAILS.values(), ids=BAD_EMAILS.keys())
def test_identify_refuses_a_bad_email(client: TestClient, email: object) -> None:
    flow = browser.open_page(client, "/login")

    response = client.post(
        f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers
    )

    assert_refused(response, "invalid_characters" if email == BAD_EMAILS["NUL byte"] else "invalid_email")


@pytest.mark.parametrize("email", BAD_EMAILS.values(), ids=BAD_EMAILS.keys())
def test_signup_options_refuse_a_bad_email(client: TestClient, email: object) -> None:
    flow = browser.open_page(client, "/signup")

    response = client.post(
        f"/signup/flows/{flow.flow_id}/passkey/options", json={"email": email}, headers=flow.headers
    )

    assert_refused(response, "invalid_characters" if email == BAD_EMAILS["NUL byte"] else "invalid_email")


@pytest.mark.parametrize(
    "path",
    ["/login/flows/{id}/identify", "/signup/flows/{id}/passkey/options"],
    ids=["identify", "signup options"],
)
def test_options_calls_refuse_a_body_over_64_kib(client: TestClient, path: str) -> None:
    flow = browser.open_page(client, "/signup" if "signup" in path else "/login")
    body = json.dumps({"email": ADA, "padding": "x" * 65_536}).encode()

    response = client.post(
        path.format(id=flow.flow_id),
        content=body,
        headers={**flow.headers, "content-type": "application/json"},
    )

    assert_refused(response, "request_too_large")
    assert response.status_code == 413


# --- random mutations (hypothesis) -----------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
)
# Scalars as often as containers: a wrong *type* is what reaches deepest before anything checks it.
JSON_VALUES = st.one_of(
    SCALARS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    ),
)
CREDENTIAL_KEYS = ["id", "rawId", "type", "response", "clientExtensionResults", "authenticatorAttachment"]
CLIENT_DATA_KEYS = ["type", "challenge", "origin", "crossOrigin", "topOrigin", "tokenBinding"]
BYTE_EDITS = st.one_of(
    st.tuples(st.just("flip"), st.integers(min_value=0)),
    st.tuples(st.just("truncate"), st.integers(min_value=0)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("replace"), st.binary(max_size=128)),
)


def edit_bytes(data: bytes, edit: tuple[str, Any]) -> bytes:
    kind, arg = edit
    if kind == "flip" and data:
        index = arg % len(data)
        return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]
    if kind == "truncate":
        return data[: arg % (len(data) + 1)]
    if kind == "append":
        return data + bytes(arg)
    if kind == "replace":
        return bytes(arg)
    return data


def random_mutation(draw: st.DrawFn, credential: dict[str, Any], byte_fields: list[str]) -> str:
    """Break one thing in `credential`, in place, and say what (Hypothesis prints it on failure).

    Earlier mutations may have removed or garbled what a later one would edit; then it does nothing.
    """
    response = credential.get("response")
    where = draw(st.sampled_from(["credential", "response", "bytes", "client data"]))
    if where == "credential":
        return edit_member(draw, credential, draw(st.sampled_from(CREDENTIAL_KEYS)), "credential")
    if not isinstance(response, dict):
        return "nothing (no response object left)"
    if where == "response":
        key = draw(st.sampled_from([*byte_fields, "clientDataJSON", "transports", "userHandle"]))
        return edit_member(draw, response, key, "response")
    if where == "bytes":
        key = draw(st.sampled_from([*byte_fields, "clientDataJSON"]))
        if not isinstance(response.get(key), str):
            return f"nothing (response[{key!r}] is no longer a string)"
        edit = draw(BYTE_EDITS)
        response[key] = b64(edit_bytes(base64url_to_bytes(response[key]), edit))
        return f"response[{key!r}] bytes: {edit[0]} {edit[1]!r}"
    data = decoded_client_data(response)
    if data is None:
        return "nothing (clientDataJSON is no longer a JSON object)"
    described = edit_member(draw, data, draw(st.sampled_from(CLIENT_DATA_KEYS)), "clientData")
    response["clientDataJSON"] = b64(json.dumps(data).encode())
    return described


def edit_member(draw: st.DrawFn, target: dict[str, Any], key: str, name: str) -> str:
    if draw(st.booleans()):
        target.pop(key, None)
        return f"del {name}[{key!r}]"
    target[key] = draw(JSON_VALUES)
    return f"{name}[{key!r}] = {target[key]!r}"


def decoded_client_data(response: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(base64url_to_bytes(response["clientDataJSON"]))
    except (KeyError, TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mutated(data: st.DataObject, credential: dict[str, Any], byte_fields: list[str]) -> dict[str, Any]:
    broken = copy.deepcopy(credential)
    # Mostly one defect at a time, so each one gets past the checks the others would trip.
    for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]), label="mutations")):
        data.draw(st.composite(lambda draw: random_mutation(draw, broken, byte_fields))(), label="mutation")
    return broken


def assert_never_a_server_error(response: Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_refused(response)


PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible, not flaky
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_random_mutations_of_a_valid_assertion_never_cause_a_server_error(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, data: st.DataObject
) -> None:
    attempt = sign_in_attempt(client, authenticator, ada)
    credential = mutated(data, attempt.body["credential"], ["authenticatorData", "signature", "userHandle"])

    assert_never_a_server_error(send(client, attempt, {"method": "passkey", "credential": credential}))
    client.cookies.delete("keyturn_session")  # a harmless mutation may still sign in


_emails = itertools.count()


@PROPERTY_SETTINGS
@given(data=st.data())
def test_random_mutations_of_a_valid_registration_never_cause_a_server_error(
    client: TestClient, data: st.DataObject
) -> None:
    attempt = signup_attempt(client, f"fuzz{next(_emails)}@example.com")
    credential = mutated(data, attempt.body["credential"], ["attestationObject"])

    assert_never_a_server_error(send(client, attempt, {"method": "passkey", "credential": credential}))
    client.cookies.delete("keyturn_session")  # a harmless mutation may still sign up
