"""Who reaches /admin: enrollment links, operator sessions, roles, CSRF, the address gate.

Operators are made as `keyturn admin create` makes them (operations.admins), enroll and
sign in through the JSON calls admin.js makes, with a software authenticator holding real
keys. Every refusal asserts what was (not) stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.ids import hash_token
from keyturn.settings import Settings
from keyturn.store.protocols import ReadTx
from tests.conftest import BASE_URL
from tests.support import admin, browser, store
from tests.support.soft_authenticator import SoftAuthenticator

OWNER = "owner@example.com"
VIEWER = "viewer@example.com"


def _count(client: TestClient, table: str) -> int:
    return len(browser.storage(client)[table])


def _operator_credentials(client: TestClient, email: str) -> list[Any]:
    async def query(tx: ReadTx) -> list[Any]:
        operator = await tx.find_operator_by_email(email)
        assert operator is not None
        return await tx.list_operator_credentials(operator.id)

    return store.read(client, query)


# --- enrollment links ----------------------------------------------------------------------


def test_an_enrollment_link_registers_one_credential_and_works_once(client: TestClient) -> None:
    link = admin.create_operator(client, OWNER)
    key = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    answer = admin.enroll(client, key, link)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"next": "/admin/login?notice=enrolled"}
    [credential] = _operator_credentials(client, OWNER)
    assert credential.backup_eligible is False  # a device-bound security key is welcome
    assert _count(client, "passkeys") == 0  # operators' credentials are not users' passkeys

    again = client.get(link)
    assert again.status_code == 410
    assert "expired or was already used" in again.text
    with pytest.raises(AssertionError):
        admin.enroll(client, SoftAuthenticator(), link)
    assert len(_operator_credentials(client, OWNER)) == 1
    [created, enrolled] = [e for e in store.events_of(client, "sapi")]
    assert created.details["operation"] == "create_operator"
    assert enrolled.details == {**enrolled.details, "operation": "enroll_operator", "actor": OWNER}


def test_a_second_ceremony_prepared_on_the_same_link_is_refused(client: TestClient) -> None:
    """Both pages were opened and both ceremonies made before either finished: one credential."""
    link = admin.create_operator(client, OWNER)
    prepared = [admin.enrollment_ceremony(client, SoftAuthenticator(), link) for _ in range(2)]
    answers = [client.post("/admin/enroll", json=body, headers=headers) for body, headers in prepared]
    assert [a.status_code for a in answers] == [200, 410]
    assert answers[1].json()["error"] == "enrollment_link_invalid"
    assert len(_operator_credentials(client, OWNER)) == 1


def test_the_database_spends_a_link_once(client: TestClient, clock: FrozenClock) -> None:
    """The conditional update is the guard: of two transactions spending one link, one wins."""
    link = admin.create_operator(client, OWNER)
    token_hash = hash_token(admin.token_of(link))
    now = clock.now()
    first = store.write(client, lambda tx: tx.use_operator_enrollment(token_hash, now=now))
    second = store.write(client, lambda tx: tx.use_operator_enrollment(token_hash, now=now))
    assert (first, second) == (True, False)
    late = admin.create_operator(client, "late@example.com")
    late_hash = hash_token(admin.token_of(late))
    expired = clock.now() + timedelta(minutes=15)
    assert store.write(client, lambda tx: tx.use_operator_enrollment(late_hash, now=expired)) is False


def test_an_enrollment_link_expires_after_fifteen_minutes(client: TestClient, clock: FrozenClock) -> None:
    link = admin.create_operator(client, OWNER)
    body, headers = admin.enrollment_ceremony(client, SoftAuthenticator(), link)
    clock.advance(minutes=15, seconds=1)
    answer = client.post("/admin/enroll", json=body, headers=headers)
    assert answer.status_code == 410
    assert client.get(link).status_code == 410
    assert _operator_credentials(client, OWNER) == []


def test_a_made_up_link_is_refused(client: TestClient) -> None:
    assert client.get("/admin/enroll?token=not-a-real-token").status_code == 410
    assert client.get("/admin/enroll").status_code == 410


def test_an_unknown_role_or_a_taken_email_creates_nothing(client: TestClient) -> None:
    admin.create_operator(client, OWNER)
    with pytest.raises(Exception, match="invalid_role"):
        admin.create_operator(client, "x@example.com", "root")
    with pytest.raises(Exception, match="operator_exists"):
        admin.create_operator(client, OWNER.upper())
    assert _count(client, "operators") == 1
    assert _count(client, "operator_enrollments") == 1


# --- sessions ---------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_cookie_scoped_to_admin_and_stores_only_its_hash(client: TestClient) -> None:
    key = SoftAuthenticator()
    assert admin.enroll(client, key, admin.create_operator(client, OWNER)).status_code == 200
    answer = admin.sign_in(client, key)
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("keyturn_admin=")
    for attribute in ("HttpOnly", "Path=/admin", "SameSite=strict", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain-http localhost development
    token = cookie.split(";")[0].split("=", 1)[1]
    rows = browser.storage(client)["operator_sessions"]
    assert len(rows) == 1 and token not in repr(rows)
    assert client.get("/admin").status_code == 200
    assert "keyturn_session" not in client.cookies  # no end-user session came with it


def test_under_https_the_cookie_is_secure(settings: Settings, clock: FrozenClock) -> None:
    https = "https://localhost:8443"
    app = create_app(settings.model_copy(update={"public_url": https}), clock=clock)
    with TestClient(app, base_url=https, headers={"origin": https}) as secure_client:
        key = SoftAuthenticator()
        link = admin.create_operator(secure_client, OWNER)
        assert admin.enroll(secure_client, key, link, origin=https).status_code == 200
        answer = admin.sign_in(secure_client, key, origin=https)
        assert answer.status_code == 200, answer.text
        assert "; secure" in answer.headers["set-cookie"].lower()
        assert secure_client.get("/admin").status_code == 200


def test_user_verification_is_required_of_operators(client: TestClient) -> None:
    key = SoftAuthenticator(user_verified=False)
    answer = admin.enroll(client, key, admin.create_operator(client, OWNER))
    assert answer.status_code == 400
    assert _operator_credentials(client, OWNER) == []


def test_an_unknown_credential_does_not_sign_in(client: TestClient, authenticator: SoftAuthenticator) -> None:
    """An end user's passkey is not an operator's."""
    assert browser.signup_with_passkey(client, authenticator, "user@example.com").status_code == 200
    answer = admin.sign_in(client, authenticator)
    assert answer.status_code == 400
    assert answer.json()["error"] == "unknown_credential"
    assert browser.storage(client)["operator_sessions"] == []


def test_an_operators_key_does_not_sign_in_to_the_hosted_pages(client: TestClient) -> None:
    key = admin.operator_signed_in(client)
    answer = browser.login_with_passkey(client, key)
    assert answer.status_code == 400
    assert answer.json()["error"] == "unknown_credential"
    assert browser.storage(client)["sessions"] == []


def test_a_session_ends_after_thirty_idle_minutes(client: TestClient, clock: FrozenClock) -> None:
    admin.operator_signed_in(client)
    for _ in range(3):  # activity moves the idle limit
        clock.advance(minutes=29)
        assert client.get("/admin/authentication").status_code == 200
    clock.advance(minutes=30, seconds=1)
    refused = client.get("/admin/authentication")
    assert refused.status_code == 403
    assert refused.text == "Forbidden."


def test_a_session_ends_twelve_hours_after_sign_in_however_active(
    client: TestClient, clock: FrozenClock
) -> None:
    admin.operator_signed_in(client)
    for _ in range(12 * 3 - 1):
        clock.advance(minutes=20)
        assert client.get("/admin").status_code == 200
    clock.advance(minutes=20)  # 12 hours
    assert client.get("/admin").status_code == 403


def test_signing_out_ends_the_session(client: TestClient) -> None:
    admin.operator_signed_in(client)
    page = client.get("/admin")
    answer = client.post("/admin/logout", data={"csrf": admin.form_csrf(page.text)}, follow_redirects=False)
    assert answer.status_code == 303
    assert browser.storage(client)["operator_sessions"] == []
    assert client.get("/admin").status_code == 403


# --- who is refused -----------------------------------------------------------------------------


def test_without_an_operator_session_every_page_and_post_is_403(client: TestClient) -> None:
    for path in ("/admin", "/admin/authentication", "/admin/no-such-page"):
        answer = client.get(path)
        assert (answer.status_code, answer.text) == (403, "Forbidden.")
    admin.operator_signed_in(client)
    assert client.get("/admin/no-such-page").status_code == 404
    client.cookies.clear()
    answer = client.post("/admin/authentication/methods", data={"method": "passkey", "enabled": "false"})
    assert (answer.status_code, answer.text) == (403, "Forbidden.")


def test_an_end_user_session_gets_403(client: TestClient, authenticator: SoftAuthenticator) -> None:
    assert browser.signup_with_passkey(client, authenticator, "user@example.com").status_code == 200
    assert "keyturn_session" in client.cookies
    before = store.in_context(client, _tenant)
    for path in ("/admin", "/admin/authentication"):
        assert (client.get(path).status_code, client.get(path).text) == (403, "Forbidden.")
    answer = client.post("/admin/authentication/methods", data={"method": "password", "enabled": "false"})
    assert answer.status_code == 403
    assert store.in_context(client, _tenant) == before


async def _tenant(ctx: Any) -> Any:
    return ctx.tenant


def test_a_viewer_sees_no_change_buttons_and_every_post_is_403(client: TestClient) -> None:
    admin.operator_signed_in(client, VIEWER, "viewer")
    page = client.get("/admin/authentication")
    assert page.status_code == 200
    assert 'action="/admin/authentication/methods"' not in page.text
    assert 'role="switch"' not in page.text
    assert "Save passkey options" not in page.text
    assert "<fieldset disabled>" in page.text
    csrf = admin.form_csrf(page.text)  # the sign-out form's: a viewer may sign out
    before = store.in_context(client, _tenant)
    for path, form in (
        ("/admin/authentication/methods", {"method": "password", "enabled": "false"}),
        ("/admin/authentication/passkey-options", {"max_passkeys_per_user": "3", "challenge_ui": "both"}),
    ):
        answer = client.post(path, data={**form, "csrf": csrf})
        assert (answer.status_code, answer.text) == (403, "Forbidden.")
    assert store.in_context(client, _tenant) == before
    assert [e.details["operation"] for e in store.events_of(client, "sapi")] == [
        "create_operator",
        "enroll_operator",
    ]


def test_a_change_without_the_csrf_token_is_refused(client: TestClient) -> None:
    admin.operator_signed_in(client)
    before = store.in_context(client, _tenant)
    for csrf in (None, "wrong"):
        form = {"method": "password", "enabled": "false", **({"csrf": csrf} if csrf else {})}
        answer = client.post("/admin/authentication/methods", data=form)
        assert answer.status_code == 403
        assert answer.json()["error"] == "csrf_failed"
    assert store.in_context(client, _tenant) == before


def test_a_change_from_another_site_is_refused(client: TestClient) -> None:
    admin.operator_signed_in(client)
    csrf = admin.form_csrf(client.get("/admin/authentication").text)
    answer = client.post(
        "/admin/authentication/methods",
        data={"method": "password", "enabled": "false", "csrf": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "cross_site_request"


@pytest.fixture
def gated(settings: Settings, clock: FrozenClock) -> Iterator[Any]:
    """Clients at chosen addresses, each with its own app (a process of the same instance, on
    the same database), whose dashboard allows 192.0.2.0/24 only."""
    admin_settings = settings.admin.model_copy(update={"allowed_ips": ["192.0.2.0/24"]})
    gated_settings = settings.model_copy(update={"admin": admin_settings})
    opened: list[TestClient] = []

    def client_at(address: str) -> TestClient:
        app = create_app(gated_settings, clock=clock)
        test_client = TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}, client=(address, 4000))
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield client_at
    for test_client in reversed(opened):
        test_client.__exit__(None, None, None)


def test_an_address_outside_allowed_ips_gets_403_and_nothing_else(gated: Any) -> None:
    inside = gated("192.0.2.7")
    outside = gated("198.51.100.7")
    admin.operator_signed_in(inside)
    outside.cookies.update(inside.cookies)  # even with a live operator session
    for path in ("/admin", "/admin/login", "/admin/static/admin.js", "/admin/enroll?token=x", "/admin/nope"):
        answer = outside.get(path)
        assert (answer.status_code, answer.text) == (403, "Forbidden."), path
    assert outside.post("/admin/login/options", json={}).status_code == 403
    assert inside.get("/admin").status_code == 200
    assert outside.get("/login").status_code == 200  # the hosted pages are not gated


def test_behind_a_trusted_proxy_the_gate_judges_the_forwarded_client(
    settings: Settings, clock: FrozenClock
) -> None:
    admin_settings = settings.admin.model_copy(update={"allowed_ips": ["192.0.2.0/24"]})
    proxied = settings.model_copy(update={"admin": admin_settings, "trusted_proxies": ["127.0.0.1/32"]})
    app = create_app(proxied, clock=clock)
    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 4000)) as via_proxy:
        assert via_proxy.get("/admin/login", headers={"x-forwarded-for": "198.51.100.7"}).status_code == 403
        assert via_proxy.get("/admin/login", headers={"x-forwarded-for": "192.0.2.7"}).status_code == 200
        assert via_proxy.get("/admin/login").status_code == 403  # the proxy itself is not allowed


def test_a_disabled_dashboard_is_not_there(settings: Settings, clock: FrozenClock, tmp_path: Path) -> None:
    off = settings.model_copy(update={"admin": settings.admin.model_copy(update={"enabled": False})})
    with TestClient(create_app(off, clock=clock), base_url=BASE_URL) as off_client:
        for path in ("/admin", "/admin/login", "/admin/static/admin.css"):
            assert off_client.get(path).status_code == 404
