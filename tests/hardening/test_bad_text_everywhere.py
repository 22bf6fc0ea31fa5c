"""Text that cannot be stored (a NUL, a lone surrogate such as "\\ud800"), in any field that
reaches Keyturn by any way in: 400 `invalid_characters` on both databases, never a 500, and
nothing stored for the refused request beyond what a refusal keeps on purpose.

The ways in are the ones the input guard does not parse itself: a JSON body declared as
something else (or not declared), a multipart form, a Basic header, a client assertion's
unverified payload. A hook's answer is not a request's input: its text is cleaned instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx2 import Response
from sqlalchemy import text
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.events import EventType, Requester, new_event
from keyturn.errors import KeyturnError
from keyturn.operations.audit import CLI
from keyturn.operations.hooks import add_hook
from keyturn.runtime import Runtime
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.database import SqlDatabase
from tests.conftest import BACKEND
from tests.hooks.conftest import Answer, HookServer, running_hook_server
from tests.hooks.test_post_login import oidc_sign_in
from tests.support import browser, oidc, store
from tests.support.oidc import b64url
from tests.support.soft_authenticator import SoftAuthenticator

ADA = "ada@example.com"
PASSWORD = "correct horse battery staple"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Every event of a sign-up, a sign-in or a token: none may be written for a refused request.
SUCCESS_EVENTS = ("ss", "s", "seccft", "seacft")


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    with running_hook_server() as server:
        yield server


def assert_invalid_characters(response: Response) -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["error"] == "invalid_characters", response.text


def assert_nothing_stored(client: TestClient, before: dict[str, list[tuple[Any, ...]]]) -> None:
    """No row anywhere but what a refusal keeps (browser.KEPT_ON_REFUSAL), no success event."""
    assert browser.storage(client) == before
    assert store.events_of(client, *SUCCESS_EVENTS) == []


def json_text(value: object) -> bytes:
    """JSON as a browser's JSON.stringify writes it: a lone surrogate as its \\u escape."""
    return json.dumps(value).encode()


# --- a JSON body not declared as JSON ---------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", None], ids=["text-plain", "no-content-type"])
@pytest.mark.parametrize(
    "body",
    [
        {"method": "password", "email": "ada\ud800@example.com", "password": PASSWORD},
        {"method": "password", "email": ADA, "password": "pass\ud800word-long-enough"},
        {"method": "password", "email": "ada\x00@example.com", "password": PASSWORD},
    ],
    ids=["surrogate-email", "surrogate-password", "nul-email"],
)
@pytest.mark.parametrize("page", ["login", "signup"])
def test_a_json_body_of_another_content_type_with_bad_text_is_refused(
    client: TestClient, page: str, body: dict[str, str], content_type: str | None
) -> None:
    flow = browser.open_page(client, f"/{page}")
    headers = dict(flow.headers)
    if content_type is not None:
        headers["content-type"] = content_type
    before = browser.storage(client)

    response = client.post(f"/{page}/flows/{flow.flow_id}", content=json_text(body), headers=headers)

    assert_invalid_characters(response)
    assert_nothing_stored(client, before)


# --- a multipart form -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"grant_type": "client_credentials", "client_id": "\x00abc", "client_secret": "x"},
        {"grant_type": "client_credentials", "client_id": "abc", "client_secret": "x\x00"},
        {"grant_type": "client_credentials", "client_id": "abc", "x\x00": "y"},
    ],
    ids=["client-id", "secret", "field-name"],
)
def test_a_multipart_form_with_a_nul_is_refused_at_the_token_endpoint(
    client: TestClient, fields: dict[str, str]
) -> None:
    """(A multipart part that is not UTF-8 cannot smuggle a surrogate: it is read as Latin-1.)"""
    before = browser.storage(client)
    boundary = "kt-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    payload = ("".join(parts) + f"--{boundary}--\r\n").encode()

    response = client.post(
        "/oauth2/token",
        content=payload,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert_invalid_characters(response)
    assert_nothing_stored(client, before)


# --- Basic authentication -------------------------------------------------------------


@pytest.mark.parametrize("user_pass", ["%00abc:secret", "\x00abc:secret", "abc:se%00cret"])
def test_a_basic_header_with_a_nul_is_refused_the_same_on_both_databases(
    client: TestClient, user_pass: str
) -> None:
    before = browser.storage(client)
    header = "Basic " + base64.b64encode(user_pass.encode()).decode()

    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers={"authorization": header}
    )

    assert_invalid_characters(response)
    assert_nothing_stored(client, before)


# --- a client assertion's payload -------------------------------------------------------


@pytest.mark.parametrize("claim", ["iss", "sub"])
def test_a_client_assertion_naming_bad_text_is_refused(
    client: TestClient, clock: FrozenClock, claim: str
) -> None:
    registered = oidc.register(client, name="Machine", first_party=False, grant_types=["client_credentials"])
    client_id = registered.client.client_id
    now = int(clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": "x", "exp": now + 60, "jti": "j"} | {claim: "\ud800"}
    header = b64url(json_text({"alg": "ES256", "typ": "JWT"}))
    token = f"{header}.{b64url(json_text(claims))}.{b64url(b'not-a-signature')}"
    before = browser.storage(client)

    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": token,
        },
    )

    # The issuer is read before the signature is checked (to find the keys): bad text there is
    # refused as such; a bad `sub` only ever meets a verified signature, which this is not.
    if claim == "iss":
        assert_invalid_characters(response)
    else:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
    assert_nothing_stored(client, before)


# --- a hook's answer --------------------------------------------------------------------


def test_a_hook_denying_with_bad_text_is_answered_with_its_message_cleaned(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    assert browser.signup_with_passkey(client, authenticator, ADA).status_code == 200
    browser.sign_out(client)
    url = hook_server.answer("/hook", Answer.deny("no \ud800 entry\x00 today"))
    store.in_context(
        client,
        lambda ctx: add_hook(
            ctx, actor=CLI, trigger="post-login", url=url, timeout_seconds=2.0, failure_policy="deny"
        ),
    )
    clock.advance(seconds=1)
    sessions_before = browser.storage(client)["sessions"]

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 403, response.text
    assert response.json() == {"error": "access_denied", "error_description": "no  entry today"}
    assert browser.storage(client)["sessions"] == sessions_before
    assert len(store.events_of(client, "hook_called")) == 1


def test_a_hook_s_claims_with_bad_text_are_cleaned_before_they_reach_a_token(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    assert browser.signup_with_passkey(client, authenticator, ADA).status_code == 200
    browser.sign_out(client)
    claims = {"https://example.com/role": "ad\ud800min", "https://example.com/teams\x00": ["o\x00ps"]}
    url = hook_server.answer("/hook", Answer.claims(claims))
    store.in_context(
        client,
        lambda ctx: add_hook(
            ctx, actor=CLI, trigger="post-login", url=url, timeout_seconds=2.0, failure_policy="deny"
        ),
    )
    clock.advance(seconds=1)
    registered = oidc.register(client)
    pkce = oidc.Pkce.new()

    params = oidc_sign_in(client, registered, authenticator=authenticator, pkce=pkce)
    tokens = oidc.exchange(client, registered, params["code"], pkce)

    assert tokens.status_code == 200, tokens.text
    _, id_claims = oidc.jwt_parts(tokens.json()["id_token"])
    assert id_claims["https://example.com/role"] == "admin"
    assert id_claims["https://example.com/teams"] == ["ops"]


# --- behind the checks: the store, and the events ----------------------------------------


def test_the_store_refuses_a_lone_surrogate_as_invalid_characters_on_both_databases(
    client: TestClient, clock: FrozenClock
) -> None:
    """The safety net under every check above: whatever the driver raises (a UnicodeEncodeError
    from sqlite3 or asyncpg, SQLSTATE 22 from PostgreSQL), a value no database stores is one 400."""
    expires = clock.now() + timedelta(minutes=5)
    bad = "j\ud800"

    with pytest.raises(KeyturnError) as refused:
        store.write(client, lambda tx: tx.remember_client_assertion(bad, bad, expires_at=expires))

    assert refused.value.code == "invalid_characters"
    assert refused.value.status == 400


def test_an_event_keeps_no_nul_and_no_lone_surrogate_in_any_field() -> None:
    requester = Requester(ip="1.2.3.4\x00", user_agent="agent\ud800")
    event = new_event(
        EventType.FAILED_LOGIN,
        requester,
        now=datetime(2026, 11, 25, tzinfo=UTC),
        user_name="ada\udfff@example.com",
        client_id="c\x00",
        details={"k\x00": ["v\ud800", ("t\x00",)]},
    )

    assert (event.ip, event.user_agent, event.user_name) == ("1.2.3.4", "agent", "ada@example.com")
    assert event.client_id == "c"
    assert event.details == {"k": ["v", ["t"]]}
    json.dumps(event.details).encode()  # encodes as UTF-8: storable in either database


def test_a_nul_the_database_refuses_is_invalid_characters(client: TestClient) -> None:
    """Where each database refuses a NUL (sqlite3: in the statement's text, which Keyturn never
    builds from input; PostgreSQL: in any text value), the answer is the same 400. A NUL
    parameter SQLite simply stores: the input checks keep one from ever coming."""
    statement = "SELECT 'a\x00b'" if BACKEND == "sqlite" else "SELECT CAST(:v AS TEXT)"

    async def run(rt: Runtime) -> object:
        assert isinstance(rt.db, SqlDatabase)
        async with rt.db.engine.connect() as conn:
            return await SqlTxBase(conn)._run(text(statement), {"v": "x\x00"})

    with pytest.raises(KeyturnError) as refused:
        browser.call(client, run)

    assert refused.value.code == "invalid_characters"
