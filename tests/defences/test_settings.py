"""The captcha and breached-password settings: what validation refuses, what the CSP gets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from keyturn.domain.tenant import AfterFailures, BreachedPasswords, CaptchaSettings
from keyturn.http.security import content_security_policy

SEALED = "c2VhbGVk"


def captcha(**values: Any) -> CaptchaSettings:
    return CaptchaSettings.model_validate({"site_key": "k", "secret_sealed": SEALED, **values})


def test_off_by_default_and_nothing_extra_in_the_csp() -> None:
    off = CaptchaSettings()
    assert (off.on, off.csp_origins, off.resolved_script_url, off.resolved_verify_url) == (
        False,
        (),
        None,
        None,
    )
    assert content_security_policy(captcha_origins=off.csp_origins) == content_security_policy()
    assert "frame-src" not in content_security_policy()


@pytest.mark.parametrize(
    ("provider", "verify_url"),
    [
        ("turnstile", "https://challenges.cloudflare.com/turnstile/v0/siteverify"),
        ("hcaptcha", "https://api.hcaptcha.com/siteverify"),
        ("recaptcha", "https://www.google.com/recaptcha/api/siteverify"),
    ],
)
def test_each_provider_defaults_to_its_documented_siteverify_url(provider: str, verify_url: str) -> None:
    assert captcha(provider=provider).resolved_verify_url == verify_url


def test_recaptcha_v3_loads_with_the_site_key_as_render() -> None:
    v3 = captcha(provider="recaptcha", recaptcha_version="v3", site_key="a b")
    assert v3.resolved_script_url == "https://www.google.com/recaptcha/api.js?render=a%20b"


@pytest.mark.parametrize(
    "values",
    [
        {"provider": "turnstile", "secret_sealed": None},
        {"provider": "hcaptcha", "site_key": ""},
        {"provider": "friendly"},
        {"provider": "turnstile", "verify_url": "http://siteverify.example/"},  # a secret over http
        {"provider": "turnstile", "script_url": "javascript:alert(1)"},
        {"provider": "turnstile", "when": "sometimes"},
        {"provider": "turnstile", "when": {"after_failures": 0}},
        {"provider": "recaptcha", "min_score": 1.5},
        {"provider": "turnstile", "secret": "in clear"},  # write-only: only the operations seal it
    ],
)
def test_bad_captcha_settings_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        captcha(**values)


def test_when_is_always_or_after_failures() -> None:
    assert captcha(provider="turnstile").when == "always"
    assert captcha(provider="turnstile", when={"after_failures": 3}).when == AfterFailures(after_failures=3)


@pytest.mark.parametrize(
    "values",
    [
        {"mode": "file"},
        {"mode": "range_api", "range_url": "http://pwned.example/range/"},
        {"mode": "on"},
        {"on_sign_in": "warn"},
    ],
)
def test_bad_breached_settings_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BreachedPasswords.model_validate(values)


def test_breached_defaults_follow_auth0() -> None:
    policy = BreachedPasswords()
    assert (policy.mode, policy.on_sign_in, policy.on_unavailable) == ("off", "block", "allow")
    assert policy.range_url == "https://api.pwnedpasswords.com/range/"
