"""/account's Sessions: every live session of the user, this one marked; revoking one or all
others takes effect at once (the next request with that cookie is signed out). The list's
last-active time moves at most once a minute: a page view inside that minute writes nothing.

One TestClient plays several browsers by swapping its cookie jar and user agent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.session import device_name
from keyturn.flows.sessions import SESSIONS_LISTED
from keyturn.oidc.clients import NewClient
from keyturn.store.protocols import WriteTx
from tests.support import browser, oidc, store
from tests.support.browser import storage

EMAIL = "ada@example.com"
OTHER = "bob@example.com"
PASSWORD = "correct horse battery staple"
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
_ITEM = re.compile(r'<li class="session-item" data-session-id="([^"]+)">(.*?)</li>', re.S)


class Browsers:
    """Named browsers on one TestClient: each its own cookies and user agent."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.jars: dict[str, dict[str, str]] = {}
        self.agents: dict[str, str] = {}
        self.current: str | None = None

    @contextmanager
    def use(self, name: str, user_agent: str = MAC_CHROME) -> Iterator[TestClient]:
        self.agents.setdefault(name, user_agent)
        self.client.cookies.clear()
        self.client.cookies.update(self.jars.get(name, {}))
        self.client.headers["user-agent"] = self.agents[name]
        try:
            yield self.client
        finally:
            self.jars[name] = dict(self.client.cookies)
            self.client.cookies.clear()


@pytest.fixture
def browsers(client: TestClient) -> Browsers:
    return Browsers(client)


def listed(page: str) -> list[dict[str, object]]:
    items = []
    for session_id, body in _ITEM.findall(page):
        device = re.search(r'<span class="session-device">(.*?)</span>', body, re.S)
        assert device
        items.append(
            {
                "id": session_id,
                "device": html.unescape(device.group(1)).strip(),
                "current": "This session" in body,
                "revoke": f'action="/account/sessions/{session_id}/revoke"' in body,
            }
        )
    return items


def account_page(client: TestClient) -> tuple[str, str]:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 200, response.status_code
    return response.text, browser.page_data(response)["csrf"]


def two_sessions(browsers: Browsers) -> None:
    """Ada signed up on the laptop, then signed in on the phone."""
    with browsers.use("laptop") as c:
        assert browser.signup_with_password(c, EMAIL, PASSWORD).status_code == 200
    with browsers.use("phone", IPHONE) as c:
        assert browser.login_with_password(c, EMAIL, PASSWORD).status_code == 200


def test_device_names_come_from_the_user_agent() -> None:
    assert device_name(MAC_CHROME) == "Chrome on macOS"
    assert device_name(IPHONE) == "Safari on iOS"
    assert device_name("") == "Unknown device"


def test_the_account_lists_every_session_with_this_one_marked(browsers: Browsers) -> None:
    two_sessions(browsers)
    with browsers.use("phone") as c:
        page, _ = account_page(c)

    sessions = listed(page)
    assert sorted(s["device"] for s in sessions) == ["Chrome on macOS", "Safari on iOS"]  # type: ignore[type-var]
    (mine,) = [s for s in sessions if s["current"]]
    assert mine["device"] == "Safari on iOS" and not mine["revoke"]
    (other,) = [s for s in sessions if not s["current"]]
    assert other["revoke"]
    assert "Sign out all other sessions" in page


def test_revoking_another_session_signs_it_out_at_once(browsers: Browsers) -> None:
    two_sessions(browsers)
    with browsers.use("phone") as c:
        page, csrf = account_page(c)
        (laptop,) = [s for s in listed(page) if not s["current"]]
        response = c.post(
            f"/account/sessions/{laptop['id']}/revoke", data={"csrf": csrf}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/account?notice=session_revoked"
        assert [s["current"] for s in listed(account_page(c)[0])] == [True]

    with browsers.use("laptop") as c:
        response = c.get("/account", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        user = store.user_of(c, EMAIL)
        (event,) = [e for e in store.events_of(c, "slo", user_id=user.id)]
        assert event.details == {"revoked_sessions": [laptop["id"]], "revoked_grants": 0}


def test_sign_out_all_other_sessions_keeps_this_one(browsers: Browsers) -> None:
    two_sessions(browsers)
    with browsers.use("tablet") as c:
        assert browser.login_with_password(c, EMAIL, PASSWORD).status_code == 200
    with browsers.use("laptop") as c:
        assert len(listed(account_page(c)[0])) == 3
        csrf = account_page(c)[1]
        response = c.post("/account/sessions/revoke-others", data={"csrf": csrf}, follow_redirects=False)
        assert response.headers["location"] == "/account?notice=other_sessions_revoked"
        assert [s["current"] for s in listed(account_page(c)[0])] == [True]
    for name in ("phone", "tablet"):
        with browsers.use(name) as c:
            assert c.get("/account", follow_redirects=False).status_code == 303


def test_another_users_session_cannot_be_revoked_and_nothing_changes(browsers: Browsers) -> None:
    two_sessions(browsers)
    with browsers.use("bob") as c:
        assert browser.signup_with_password(c, OTHER, PASSWORD).status_code == 200
        _, bob_csrf = account_page(c)
    with browsers.use("laptop") as c:
        page, _ = account_page(c)
        ada_session = listed(page)[0]["id"]
    with browsers.use("bob") as c:
        before = storage(c)
        response = c.post(
            f"/account/sessions/{ada_session}/revoke", data={"csrf": bob_csrf}, follow_redirects=False
        )
        assert response.status_code == 404
        assert "That session has already ended." in response.text
        assert storage(c) == before


def test_revoking_without_the_pages_token_is_refused_and_changes_nothing(browsers: Browsers) -> None:
    two_sessions(browsers)
    with browsers.use("phone") as c:
        page, _ = account_page(c)
        (laptop,) = [s for s in listed(page) if not s["current"]]
        before = storage(c)
        for path in (f"/account/sessions/{laptop['id']}/revoke", "/account/sessions/revoke-others"):
            assert c.post(path, data={"csrf": "wrong"}, follow_redirects=False).status_code == 403
        assert storage(c) == before


def test_last_active_moves_at_most_once_a_minute(browsers: Browsers, clock: FrozenClock) -> None:
    with browsers.use("laptop") as c:
        assert browser.signup_with_password(c, EMAIL, PASSWORD).status_code == 200
        token = c.cookies["keyturn_session"]
        created = clock.now()
        clock.advance(seconds=59)
        before = storage(c)
        account_page(c)
        assert storage(c) == before  # a page view inside the minute writes nothing

        clock.advance(seconds=2)
        account_page(c)
        session = store.find_session(c, token, now=clock.now())
        assert session is not None
        assert session.created_at == created and session.last_active_at == clock.now()
        assert "Last active" in account_page(c)[0]


def test_the_list_stays_short_however_many_sessions_there_are(browsers: Browsers, clock: FrozenClock) -> None:
    """The most recently active (SESSIONS_LISTED) are listed, this one always among them, and the page says
    that Sign out all other sessions ends the others too."""
    with browsers.use("laptop") as c:
        assert browser.signup_with_password(c, EMAIL, PASSWORD).status_code == 200
    user = store.user_of(browsers.client, EMAIL)
    (mine,) = store.read(browsers.client, lambda tx: tx.list_user_sessions(user.id, now=clock.now()))

    async def add_others(tx: WriteTx) -> None:
        for n in range(SESSIONS_LISTED + 2):
            other = replace(mine, id=f"other-{n:02}", csrf_token=f"csrf-{n}", last_active_at=clock.now())
            await tx.create_session(other, token_hash=f"hash-{n:02}")

    clock.advance(minutes=5)  # the others are more recently active than this one
    store.write(browsers.client, add_others)
    with browsers.use("laptop") as c:
        page, _ = account_page(c)

    sessions = listed(page)
    assert len(sessions) == SESSIONS_LISTED
    assert [s["id"] for s in sessions if s["current"]] == [mine.id]
    assert 'id="more-sessions"' in page


# --- what applications were granted in a revoked session ----------------------------------------


def refresh_token_in(c: TestClient, app: NewClient) -> str:
    """An app's offline refresh token, granted in this browser's session."""
    code = oidc.code_for(c, app, None, scope="openid email offline_access")
    token: str = oidc.exchange(c, app, code, None).json()["refresh_token"]
    return token


def refreshes(c: TestClient, app: NewClient, token: str) -> bool:
    assert app.secret is not None
    data = {"grant_type": "refresh_token", "refresh_token": token}
    response = c.post("/oauth2/token", data=data, auth=(app.client.client_id, app.secret))
    assert response.status_code in (200, 400), response.text
    return response.status_code == 200


def test_a_revoked_session_takes_the_refresh_tokens_granted_in_it(browsers: Browsers) -> None:
    """The lost laptop's apps lose their access with its session; the phone's keep theirs."""
    two_sessions(browsers)
    app = oidc.register(browsers.client)
    with browsers.use("laptop") as c:
        on_laptop = refresh_token_in(c, app)
    with browsers.use("phone") as c:
        on_phone = refresh_token_in(c, app)
        page, csrf = account_page(c)
        (laptop,) = [s for s in listed(page) if not s["current"]]
        response = c.post(
            f"/account/sessions/{laptop['id']}/revoke", data={"csrf": csrf}, follow_redirects=False
        )
        assert response.status_code == 303
        assert not refreshes(c, app, on_laptop)
        assert refreshes(c, app, on_phone)
        user = store.user_of(c, EMAIL)
        (event,) = store.events_of(c, "slo", user_id=user.id)
        assert event.details == {"revoked_sessions": [laptop["id"]], "revoked_grants": 1}


def test_sign_out_all_other_sessions_takes_their_refresh_tokens_too(browsers: Browsers) -> None:
    two_sessions(browsers)
    app = oidc.register(browsers.client)
    with browsers.use("phone") as c:
        on_phone = refresh_token_in(c, app)
    with browsers.use("laptop") as c:
        on_laptop = refresh_token_in(c, app)
        csrf = account_page(c)[1]
        response = c.post("/account/sessions/revoke-others", data={"csrf": csrf}, follow_redirects=False)
        assert response.status_code == 303
        assert not refreshes(c, app, on_phone)
        assert refreshes(c, app, on_laptop)  # this session's apps keep their access


def test_sign_out_all_other_sessions_leaves_the_tokens_of_sessions_already_ended(
    browsers: Browsers,
) -> None:
    """An app's offline token outlives the session it was granted in once that session ended by
    signing out; a later "sign out all other sessions" elsewhere ends live sessions only."""
    two_sessions(browsers)
    app = oidc.register(browsers.client)
    with browsers.use("phone") as c:
        offline = refresh_token_in(c, app)
        browser.sign_out(c)
    with browsers.use("laptop") as c:
        csrf = account_page(c)[1]
        response = c.post("/account/sessions/revoke-others", data={"csrf": csrf}, follow_redirects=False)
        assert response.status_code == 303
        assert refreshes(c, app, offline)
