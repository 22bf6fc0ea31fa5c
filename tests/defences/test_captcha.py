"""Captcha on the password path only, against a real siteverify server on loopback.

Every provider shape (Turnstile, hCaptcha, reCAPTCHA v2 and v3) is verified by its protocol:
a form with `secret`, `response` and `remoteip`, a JSON verdict. A missing or refused token
is answered clearly before the password is counted or checked, and stores nothing; a
provider that hangs fails closed for passwords; passkeys are never asked and never notice.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.errors import KeyturnError
from keyturn.flows.protection import brute_force_rate
from keyturn.http.context import SESSION_COOKIE
from keyturn.operations.tenant_config import read_path
from tests.defences.conftest import SITE_KEY, use_captcha
from tests.management.conftest import Api
from tests.support import browser, store
from tests.support.defences import GOOD_TOKEN, LOW_SCORE_TOKEN, SECRET, CaptchaProvider
from tests.support.server import free_port
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"
# (provider, extra settings) for every provider shape
SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("turnstile", {}),
    ("hcaptcha", {}),
    ("recaptcha", {}),
    ("recaptcha", {"recaptcha_version": "v3", "v3_action": "signup"}),
]
IDS = ["turnstile", "hcaptcha", "recaptcha-v2", "recaptcha-v3"]


def signup(client: TestClient, email: str = EMAIL, password: str = PASSWORD, **extra: object) -> Any:
    flow = browser.open_page(client, "/signup")
    body = {"method": "password", "email": email, "password": password, **extra}
    return client.post(f"/signup/flows/{flow.flow_id}", json=body, headers=flow.headers)


def login(client: TestClient, email: str = EMAIL, password: str = PASSWORD, **extra: object) -> Any:
    flow = browser.open_page(client, "/login")
    body = {"method": "password", "email": email, "password": password, **extra}
    return client.post(f"/login/flows/{flow.flow_id}", json=body, headers=flow.headers)


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize(("name", "extra"), SHAPES, ids=IDS)
def test_password_signup_passes_with_a_good_token_by_the_siteverify_protocol(
    client: TestClient, provider: CaptchaProvider, name: str, extra: dict[str, Any]
) -> None:
    use_captcha(client, provider, name, **extra)
    page = browser.open_page(client, "/signup")
    assert page.data["captcha"]["provider"] == name and page.data["captcha"]["site_key"] == SITE_KEY
    assert page.data["captcha"]["required"] is True
    assert SECRET not in str(page.data)

    response = signup(client, captcha=GOOD_TOKEN)

    assert response.status_code == 200, response.text
    assert store.find_user(client, EMAIL) is not None
    (form,) = provider.state.forms
    assert form == {"secret": SECRET, "response": GOOD_TOKEN, "remoteip": "testclient"}
    (signed_up,) = store.events_of(client, "ss")
    score = 0.9 if extra else None
    assert signed_up.details["captcha"] == {"provider": name, "reason": "ok", "score": score}


@pytest.mark.parametrize(("name", "extra"), SHAPES, ids=IDS)
@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "captcha_required"), ("", "captcha_required"), ("forged", "captcha_failed")],
)
def test_password_signup_without_a_good_token_is_refused_and_stores_nothing(
    client: TestClient,
    provider: CaptchaProvider,
    name: str,
    extra: dict[str, Any],
    token: str | None,
    code: str,
) -> None:
    use_captcha(client, provider, name, **extra)
    browser.open_page(client, "/signup")
    before = browser.storage(client)

    response = signup(client, **({} if token is None else {"captcha": token}))

    assert _error(response) == (400, code)
    assert "robot" in response.json()["error_description"]
    assert SESSION_COOKIE not in response.cookies
    assert browser.storage(client) == before
    assert store.find_user(client, EMAIL) is None
    (event,) = store.events_of(client, "fs")
    assert event.details["error"] == code and event.details["captcha"]["provider"] == name
    assert len(provider.state.forms) == (1 if token else 0)  # nothing to ask about a missing token


def test_a_token_is_good_once(client: TestClient, provider: CaptchaProvider) -> None:
    use_captcha(client, provider)
    assert signup(client, captcha=GOOD_TOKEN).status_code == 200
    browser.sign_out(client)
    replayed = signup(client, "grace@example.com", captcha=GOOD_TOKEN)
    assert _error(replayed) == (400, "captcha_failed")
    (event,) = store.events_of(client, "fs")
    assert event.details["captcha"]["reason"] == "timeout-or-duplicate"
    assert store.find_user(client, "grace@example.com") is None


def test_recaptcha_v3_refuses_a_low_score_and_another_action(
    client: TestClient, provider: CaptchaProvider
) -> None:
    use_captcha(client, provider, "recaptcha", recaptcha_version="v3", v3_action="signup", min_score=0.5)
    low = signup(client, captcha=LOW_SCORE_TOKEN)
    assert _error(low) == (400, "captcha_failed")
    provider.state.v3_action = "login"  # a token made for the sign-in page
    other = signup(client, captcha=GOOD_TOKEN)
    assert _error(other) == (400, "captcha_failed")
    reasons = [
        (e.details["captcha"]["reason"], e.details["captcha"]["score"]) for e in store.events_of(client, "fs")
    ]
    assert reasons == [("low_score", 0.1), ("wrong_action", 0.9)]
    assert store.find_user(client, EMAIL) is None


def test_a_provider_that_does_not_answer_fails_closed_for_passwords(
    client: TestClient, provider: CaptchaProvider
) -> None:
    use_captcha(client, provider, timeout_seconds=0.3)
    provider.state.hang = True
    browser.open_page(client, "/signup")
    before = browser.storage(client)

    response = signup(client, captcha=GOOD_TOKEN)

    assert _error(response) == (503, "captcha_unavailable")
    assert response.headers["retry-after"] == "5"
    assert browser.storage(client) == before
    assert store.find_user(client, EMAIL) is None


def test_a_provider_that_is_down_fails_closed_for_password_sign_in(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    store.set_tenant(
        client,
        "/attack_protection/captcha",
        {
            "provider": "hcaptcha",
            "site_key": SITE_KEY,
            "secret": SECRET,
            "verify_url": f"http://127.0.0.1:{free_port()}/siteverify",
        },
    )
    response = login(client, captcha=GOOD_TOKEN)
    assert _error(response) == (503, "captcha_unavailable")
    assert SESSION_COOKIE not in response.cookies
    (event,) = store.events_of(client, "f")
    assert event.details["captcha"] == {"provider": "hcaptcha", "reason": "unavailable"}


def test_passkeys_are_never_asked_even_with_the_provider_down(
    client: TestClient, provider: CaptchaProvider, authenticator: SoftAuthenticator
) -> None:
    use_captcha(client, provider, timeout_seconds=0.3)
    provider.state.hang = True

    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200, response.text
    assert provider.state.forms == []  # the provider was never asked


@pytest.mark.parametrize(("name", "extra"), SHAPES, ids=IDS)
def test_password_sign_in_needs_a_good_token(
    client: TestClient, provider: CaptchaProvider, name: str, extra: dict[str, Any]
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    use_captcha(client, provider, name, **{**extra, "v3_action": "login"} if extra else {})
    browser.open_page(client, "/login")
    before = browser.storage(client)

    assert _error(login(client)) == (400, "captcha_required")
    assert _error(login(client, captcha="forged")) == (400, "captcha_failed")
    assert browser.storage(client) == before
    response = login(client, captcha=GOOD_TOKEN)

    assert response.status_code == 200, response.text
    assert store.events_of(client, "s")[-1].details["captcha"]["reason"] == "ok"
    failed = store.events_of(client, "f")
    assert [e.details["error"] for e in failed] == ["captcha_required", "captcha_failed"]
    assert all(e.user_name == EMAIL and e.details["captcha"]["provider"] == name for e in failed)


def test_refused_captchas_are_not_counted_against_the_password(
    client: TestClient, provider: CaptchaProvider
) -> None:
    """Brute-force protection counts password verifications; a refused captcha is none."""
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    store.set_tenant(client, "/attack_protection/brute_force/max_attempts", 2)
    use_captcha(client, provider)
    for _ in range(5):
        assert _error(login(client, password=WRONG, captcha="forged")) == (400, "captcha_failed")

    rate = brute_force_rate(store.in_context(client, _tenant))
    verdict = browser.call(client, lambda rt: rt.throttles.peek(rate, "bf", EMAIL, "testclient"))
    assert verdict.remaining == 2
    assert login(client, captcha=GOOD_TOKEN).status_code == 200
    assert store.events_of(client, "limit_wc", "fp") == []


async def _tenant(ctx: Any) -> Any:
    return ctx.tenant


def test_after_failures_asks_only_once_the_address_has_failed_n_times(
    client: TestClient, provider: CaptchaProvider
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    use_captcha(client, provider, when={"after_failures": 2})
    flow = browser.open_page(client, "/login")
    assert flow.data["captcha"]["required"] is False  # sign-in learns it from Continue

    def identify() -> Any:
        page = browser.open_page(client, "/login")
        answer = client.post(
            f"/login/flows/{page.flow_id}/identify", json={"email": EMAIL}, headers=page.headers
        )
        return answer.json()

    assert identify()["captcha"] is False
    assert [_error(login(client, password=WRONG)) for _ in range(2)] == [(401, "invalid_credentials")] * 2
    assert identify()["captcha"] is True
    assert _error(login(client)) == (400, "captcha_required")
    assert login(client, captcha=GOOD_TOKEN).status_code == 200
    assert provider.state.forms[0]["response"] == GOOD_TOKEN


def test_identify_answers_the_same_for_unknown_accounts(
    client: TestClient, provider: CaptchaProvider
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    use_captcha(client, provider)
    answers = []
    for email in (EMAIL, "nobody@example.com"):
        page = browser.open_page(client, "/login")
        answer = client.post(
            f"/login/flows/{page.flow_id}/identify", json={"email": email}, headers=page.headers
        )
        answers.append(answer.json()["captcha"])
    assert answers == [True, True]


@pytest.mark.parametrize(
    ("name", "extra", "origins"),
    [
        ("turnstile", {}, "https://challenges.cloudflare.com"),
        ("hcaptcha", {}, "https://hcaptcha.com https://*.hcaptcha.com"),
        (
            "recaptcha",
            {},
            "https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/ "
            "https://recaptcha.google.com/recaptcha/",
        ),
    ],
)
def test_the_password_pages_csp_allows_exactly_the_providers_origins(
    client: TestClient, provider: CaptchaProvider, name: str, extra: dict[str, Any], origins: str
) -> None:
    default = client.get("/login").headers["content-security-policy"]
    assert "frame-src" not in default and "script-src 'self';" in default
    use_captcha(client, provider, name, **extra)
    for path in ("/login", "/signup"):
        policy = dict(
            part.strip().split(" ", 1)
            for part in client.get(path).headers["content-security-policy"].split(";")
        )
        assert policy["script-src"] == f"'self' {origins}"
        assert policy["frame-src"] == origins
    assert client.get("/recovery").headers["content-security-policy"] == default  # no password step there


def test_a_configured_script_origin_replaces_the_providers(
    client: TestClient, provider: CaptchaProvider
) -> None:
    use_captcha(client, provider, script_url=provider.script_url("turnstile"))
    policy = client.get("/login").headers["content-security-policy"]
    assert f"script-src 'self' {provider.origin};" in policy and f"frame-src {provider.origin};" in policy
    assert "cloudflare" not in policy
    assert browser.open_page(client, "/login").data["captcha"]["script"] == provider.script_url("turnstile")


def test_the_secret_is_sealed_and_never_shown(
    client: TestClient, provider: CaptchaProvider, api: Api
) -> None:
    use_captcha(client, provider)
    document = store.in_context(client, _document)
    assert SECRET not in str(document)
    assert document["attack_protection"]["captcha"]["secret_sealed"]
    assert SECRET not in api.get("/connections/con_keyturn").text
    assert SECRET not in str([e.details for e in store.events_of(client)])
    assert signup(client, captcha=GOOD_TOKEN).status_code == 200  # and it is the one sent
    assert provider.state.forms[0]["secret"] == SECRET
    # a patch that leaves the secret out keeps it
    store.set_tenant(client, "/attack_protection/captcha/site_key", "another-site-key")
    assert store.in_context(client, _document)["attack_protection"]["captcha"]["secret_sealed"]
    # the API rotates it, write-only too
    browser.sign_out(client)
    rotated = api.patch(
        "/connections/con_keyturn",
        json={"options": {"attack_protection": {"captcha": {"secret": "rotated-secret"}}}},
    )
    assert rotated.status_code == 200, rotated.text
    assert "rotated-secret" not in rotated.text
    provider.state.secret = "rotated-secret"
    assert signup(client, "grace@example.com", captcha="widget-rotated").status_code == 200
    assert provider.state.forms[-1]["secret"] == "rotated-secret"


async def _document(ctx: Any) -> Any:
    return read_path(ctx.tenant, "/")


def test_a_provider_without_a_secret_is_refused(client: TestClient, provider: CaptchaProvider) -> None:
    with pytest.raises(KeyturnError, match="needs a site_key and a secret"):
        store.set_tenant(
            client, "/attack_protection/captcha", {"provider": "turnstile", "site_key": SITE_KEY}
        )
    assert store.in_context(client, _document)["attack_protection"]["captcha"]["provider"] == "none"
