"""/admin: sign-ins over 24 hours and 30 days by method, the passkey share per day (an inline
SVG, no script), progressive enrollment's outcomes, and recent failures."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.flows.test_enrollment import OFFER, create, password_sign_in, password_user
from tests.support import admin, browser
from tests.support.soft_authenticator import SoftAuthenticator


def figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_]+)">([^<]+)<', page))


def test_sign_ins_by_method_over_a_day_and_a_month_and_the_daily_passkey_share(
    client: TestClient, clock: FrozenClock
) -> None:
    key = SoftAuthenticator()
    assert browser.signup_with_passkey(client, key, "a@example.com").status_code == 200  # day 1: passkey
    browser.sign_out(client)
    clock.advance(days=3)
    assert browser.login_with_passkey(client, key).status_code == 200  # day 4: passkey, password
    browser.sign_out(client)
    browser.signup_with_password(client, "b@example.com", "correct horse battery")
    browser.sign_out(client)
    admin.operator_signed_in(client)
    page = client.get("/admin").text
    assert dict(re.findall(r'data-sign-ins="([a-z]+)">(\d+)<', page)) == {"passkey": "1", "password": "1"}
    assert dict(re.findall(r'data-sign-ins-30="([a-z]+)">(\d+)<', page)) == {"passkey": "2", "password": "1"}
    assert figures(page)["passkey_share"] == "67%"
    titles = re.findall(r'<rect class="bar" data-day="([0-9-]+)"[^>]*><title>([^<]+)</title>', page)
    assert len(titles) == 30
    by_day = dict(titles)
    assert by_day["2026-11-25"] == "2026-11-25: 1 of 1 sign-ins with a passkey"
    assert by_day["2026-11-28"] == "2026-11-28: 1 of 2 sign-ins with a passkey"
    assert by_day["2026-11-27"] == "2026-11-27: 0 of 0 sign-ins with a passkey"
    assert "<script" not in page.split("</main>")[0]  # the chart needs no script


def test_a_sign_in_older_than_thirty_days_is_not_counted(client: TestClient, clock: FrozenClock) -> None:
    key = SoftAuthenticator()
    assert browser.signup_with_passkey(client, key, "a@example.com").status_code == 200
    browser.sign_out(client)
    clock.advance(days=31)
    admin.operator_signed_in(client)
    page = client.get("/admin").text
    assert re.findall(r'data-sign-ins-30="([a-z]+)">(\d+)<', page) == []
    assert figures(page)["passkey_share"] == "—"


def test_progressive_enrollment_outcomes(client: TestClient) -> None:
    """Two offers (the first left unanswered), one passkey created from the second: 50 %."""
    password_user(client)
    assert OFFER.match(password_sign_in(client))
    browser.sign_out(client)
    offer = password_sign_in(client)
    assert OFFER.match(offer), offer
    answer, _ = create(client, offer, SoftAuthenticator())
    assert answer.status_code == 200, answer.text
    browser.sign_out(client)
    admin.operator_signed_in(client)
    page = client.get("/admin").text
    assert figures(page)["progressive_offered"] == "2"
    assert figures(page)["progressive_created"] == "1"
    assert figures(page)["progressive_failed"] == "0"
    assert figures(page)["progressive_conversion"] == "50 %"


def test_no_offers_no_conversion(client: TestClient) -> None:
    admin.operator_signed_in(client)
    page = client.get("/admin").text
    assert figures(page)["progressive_offered"] == "0"
    assert figures(page)["progressive_conversion"] == "—"


def test_recent_failures(client: TestClient) -> None:
    browser.signup_with_password(client, "a@example.com", "correct horse battery")
    browser.sign_out(client)
    assert browser.login_with_password(client, "a@example.com", "not the password").status_code >= 400
    admin.operator_signed_in(client)
    page = client.get("/admin").text
    assert re.findall(r'data-failure="([a-z_]+)"', page) == ["fp"]
