"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at /oauth2/logout.

A valid id_token_hint naming this browser's session signs out at once and returns to a
registered post_logout_redirect_uri; anything less asks the person first; a bad hint or an
unregistered return address gets an error page and never a redirect.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.oidc.clients import NewClient
from tests.support import browser, oidc
from tests.support.oidc import b64url as _b64
from tests.support.oidc import jwt_parts as _parts
from tests.support.soft_authenticator import SoftAuthenticator

SIGNED_OUT = "https://app.example/signed-out"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def sign_in(client: TestClient, authenticator: SoftAuthenticator, email: str = "ada@example.com") -> None:
    assert browser.signup_with_passkey(client, authenticator, email).status_code == 200


def logout_client(client: TestClient, **options: Any) -> NewClient:
    options.setdefault("post_logout_redirect_uris", [SIGNED_OUT])
    return oidc.register(client, **options)


def id_token_for(client: TestClient, registered: NewClient) -> str:
    response = oidc.exchange(client, registered, oidc.code_for(client, registered), None)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def logout(client: TestClient, **params: str) -> Response:
    return client.get("/oauth2/logout", params=params, follow_redirects=False)


def signed_in(client: TestClient) -> bool:
    response = client.get("/account", follow_redirects=False)
    if response.status_code == 200:
        return True
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login")
    return False


def assert_error_page(response: Response) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "Something is wrong with this link" in response.text


def confirmation_form(response: Response) -> dict[str, str]:
    """The hidden fields of the "Sign out?" page, as a browser would post them."""
    assert response.status_code == 200, response.text
    assert 'action="/oauth2/logout"' in response.text
    return {name: unescape(value) for name, value in _HIDDEN.findall(response.text)}


# --- with a valid id_token_hint ------------------------------------------------------------------


def test_logout_with_a_hint_for_this_session_ends_it_and_returns_to_the_client(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = logout_client(client)
    hint = id_token_for(client, registered)

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT, state="x")

    assert response.status_code in (302, 303), response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SIGNED_OUT
    assert parse_qs(location.query) == {"state": ["x"]}
    assert not signed_in(client)


def test_logout_keeps_the_return_addresses_own_query(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    with_query = "https://app.example/bye?from=idp"
    registered = logout_client(client, post_logout_redirect_uris=[with_query])

    response = logout(
        client, id_token_hint=id_token_for(client, registered), post_logout_redirect_uri=with_query, state="s"
    )

    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query == {"from": ["idp"], "state": ["s"]}


def test_logout_with_a_hint_and_no_return_address_goes_to_the_login_page(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    hint = id_token_for(client, logout_client(client))

    response = logout(client, id_token_hint=hint)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert not signed_in(client)


def test_an_rs256_id_token_is_a_valid_hint(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    registered = logout_client(client, id_token_alg="RS256")
    hint = id_token_for(client, registered)
    assert _parts(hint)[0]["alg"] == "RS256"

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT)

    assert response.headers["location"].startswith(SIGNED_OUT)
    assert not signed_in(client)


def test_an_expired_hint_for_this_session_still_signs_out(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    """The spec asks OPs to accept expired ID tokens as hints: the session outlives them."""
    sign_in(client, authenticator)
    registered = logout_client(client)
    hint = id_token_for(client, registered)
    clock.advance(hours=2)
    assert signed_in(client)

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT)

    assert response.headers["location"].startswith(SIGNED_OUT)
    assert not signed_in(client)


def test_logout_without_a_session_just_returns_to_the_client(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = logout_client(client)
    hint = id_token_for(client, registered)
    browser.sign_out(client)

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT, state="again")

    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query) == {"state": ["again"]}


def test_a_hint_for_an_earlier_session_asks_before_signing_out(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = logout_client(client)
    old_hint = id_token_for(client, registered)
    browser.sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200

    response = logout(client, id_token_hint=old_hint, post_logout_redirect_uri=SIGNED_OUT)

    assert confirmation_form(response)["csrf"]
    assert "Sign out?" in response.text
    assert signed_in(client)


# --- return addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        oidc.REDIRECT_URI,  # a registered redirect_uri is not a post-logout address
        SIGNED_OUT + "/",
        SIGNED_OUT + "?next=https://evil.example/",
        SIGNED_OUT + "#frag",
        "https://app.example/signed-out/../evil",
        "https://APP.example/signed-out",
        "http://app.example/signed-out",
        "javascript:alert(1)",
        "",
    ],
)
def test_an_unregistered_return_address_gets_an_error_page(
    client: TestClient, authenticator: SoftAuthenticator, target: str
) -> None:
    sign_in(client, authenticator)
    hint = id_token_for(client, logout_client(client))

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri=target, state="x")

    assert_error_page(response)
    assert signed_in(client)


def test_another_clients_return_address_gets_an_error_page(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    mine = logout_client(client)
    logout_client(client, name="Other", post_logout_redirect_uris=["https://other.example/bye"])
    hint = id_token_for(client, mine)

    response = logout(client, id_token_hint=hint, post_logout_redirect_uri="https://other.example/bye")

    assert_error_page(response)
    assert signed_in(client)


def test_a_client_id_that_does_not_match_the_hint_gets_an_error_page(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    """RP-Initiated Logout §2: with both client_id and id_token_hint, the OP MUST check that the
    client_id is the one the ID token was issued to. Otherwise client A's hint (which names the
    session, so no confirmation is asked) sends the browser to client B's return address."""
    sign_in(client, authenticator)
    mine = logout_client(client)
    other = logout_client(client, name="Other", post_logout_redirect_uris=["https://other.example/bye"])
    hint = id_token_for(client, mine)

    response = logout(
        client,
        id_token_hint=hint,
        client_id=other.client.client_id,
        post_logout_redirect_uri="https://other.example/bye",
    )

    assert_error_page(response)
    assert signed_in(client)


def test_a_return_address_without_hint_or_client_id_gets_an_error_page(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    logout_client(client)

    response = logout(client, post_logout_redirect_uri=SIGNED_OUT)

    assert_error_page(response)
    assert signed_in(client)


# --- bad hints ------------------------------------------------------------------------------------


def _forged_hints(client: TestClient, genuine: str) -> dict[str, str]:
    header, claims = _parts(genuine)
    impostor = ECKey.generate_key("P-256")
    signing_input, signature = genuine.rsplit(".", 1)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "other-key-same-kid": jwt.encode(header, claims, impostor, algorithms=["ES256"]),
        "flipped-signature": f"{signing_input}.{flipped}",
        "alg-none": f"{_b64(json.dumps({'alg': 'none', 'kid': header['kid']}).encode())}."
        f"{signing_input.split('.')[1]}.",
        "tampered-sid": f"{signing_input.split('.')[0]}."
        f"{_b64(json.dumps({**claims, 'sid': 'another-session'}).encode())}.{signature}",
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize(
    "kind", ["other-key-same-kid", "flipped-signature", "alg-none", "tampered-sid", "garbage"]
)
def test_a_hint_with_a_bad_signature_gets_an_error_page(
    client: TestClient, authenticator: SoftAuthenticator, kind: str
) -> None:
    sign_in(client, authenticator)
    genuine = id_token_for(client, logout_client(client))
    forged = _forged_hints(client, genuine)[kind]

    with_target = logout(client, id_token_hint=forged, post_logout_redirect_uri=SIGNED_OUT, state="x")
    without_target = logout(client, id_token_hint=forged)

    assert_error_page(with_target)
    assert_error_page(without_target)
    assert signed_in(client)


# --- without a hint: confirmation -----------------------------------------------------------------


def test_logout_without_a_hint_asks_for_confirmation(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator, "confirm@example.com")

    response = logout(client)

    fields = confirmation_form(response)
    assert "Sign out?" in response.text
    assert "confirm@example.com" in response.text
    assert fields["csrf"]
    assert signed_in(client)


def test_confirming_with_the_csrf_token_signs_out(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    fields = confirmation_form(logout(client))

    response = client.post("/oauth2/logout", data=fields, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert not signed_in(client)


def test_confirming_returns_to_a_registered_address_named_by_client_id(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = logout_client(client)

    page = logout(
        client, client_id=registered.client.client_id, post_logout_redirect_uri=SIGNED_OUT, state="st"
    )
    fields = confirmation_form(page)
    response = client.post("/oauth2/logout", data=fields, follow_redirects=False)

    assert {"post_logout_redirect_uri", "client_id", "state"} <= set(fields)
    assert signed_in(client) is False
    assert response.headers["location"] == f"{SIGNED_OUT}?state=st"


@pytest.mark.parametrize("csrf", ["", "wrong"])
def test_confirming_without_the_right_csrf_token_does_not_sign_out(
    client: TestClient, authenticator: SoftAuthenticator, csrf: str
) -> None:
    sign_in(client, authenticator)
    confirmation_form(logout(client))

    response = client.post("/oauth2/logout", data={"csrf": csrf}, follow_redirects=False)

    assert "location" not in response.headers
    assert signed_in(client)


def test_a_cross_site_confirmation_is_refused(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    fields = confirmation_form(logout(client))

    response = client.post(
        "/oauth2/logout", data=fields, headers={"origin": "https://evil.example"}, follow_redirects=False
    )

    assert response.status_code == 403, response.text
    assert signed_in(client)


def test_a_hint_by_post_ends_the_session_too(client: TestClient, authenticator: SoftAuthenticator) -> None:
    """The spec allows POST with the same parameters as GET."""
    sign_in(client, authenticator)
    hint = id_token_for(client, logout_client(client))

    response = client.post(
        "/oauth2/logout",
        data={"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT, "state": "p"},
        follow_redirects=False,
    )

    assert response.headers["location"] == f"{SIGNED_OUT}?state=p"
    assert not signed_in(client)


def test_logout_clears_the_session_cookie(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    hint = id_token_for(client, logout_client(client))

    response = logout(client, id_token_hint=hint)

    assert any(
        "max-age=0" in value.lower() or "expires=" in value.lower()
        for value in response.headers.get_list("set-cookie")
    )
