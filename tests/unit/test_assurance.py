"""The one rule for which acr levels a session's proofs reach (domain.assurance.levels_met),
which one an ID token reports, and which one a step-up asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyturn.domain.assurance import (
    ACR_MFA,
    ACR_PHR,
    ACR_PHRH,
    levels_met,
    step_up_level,
    strongest_met,
)
from keyturn.domain.oidc import AuthorizationRequest
from keyturn.domain.session import AuthEvent, Session

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def session(*events: AuthEvent, session_id: str = "s1") -> Session:
    return Session(
        id=session_id,
        user_id="u1",
        csrf_token="c",
        authenticated=events,
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
        user_agent="",
        ip="127.0.0.1",
    )


def request(*acr: str, stepped_up: str | None = None) -> AuthorizationRequest:
    return AuthorizationRequest(
        id="r1",
        client_id="c1",
        redirect_uri="https://app.example/cb",
        scope=("openid",),
        state=None,
        nonce=None,
        code_challenge=None,
        prompt=(),
        max_age=None,
        login_hint=None,
        acr_values=acr,
        audience=None,
        browser_binding="b",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
        stepped_up_session=stepped_up,
    )


PASSWORD = AuthEvent(method="password", at=NOW)
PASSKEY = AuthEvent(method="passkey", at=NOW)
PASSKEY_NO_UV = AuthEvent(method="passkey", at=NOW, user_verified=False)
ATTESTED = AuthEvent(method="passkey", at=NOW, attested_device_bound=True)


@pytest.mark.parametrize(
    ("events", "met"),
    [
        ((PASSWORD,), set()),
        ((PASSKEY,), {ACR_PHR}),
        ((PASSKEY_NO_UV,), set()),
        ((ATTESTED,), {ACR_PHR, ACR_PHRH}),
        ((PASSWORD, PASSKEY), {ACR_PHR}),
        ((PASSWORD, ATTESTED), {ACR_PHR, ACR_PHRH}),
    ],
    ids=["password", "passkey", "passkey-without-uv", "attested", "password-then-passkey", "then-attested"],
)
def test_levels_met_from_the_sessions_proofs(events: tuple[AuthEvent, ...], met: set[str]) -> None:
    assert levels_met(session(*events)) == met


def test_the_mfa_level_follows_the_sessions_amr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever puts "mfa" in a session's amr (second factors, a passkey that counts as two),
    the MFA level follows it, and only it."""
    two = session(PASSWORD, PASSKEY)
    monkeypatch.setattr(Session, "amr", property(lambda s: ["pwd", "phr", "mfa"]))
    assert levels_met(two) == {ACR_PHR, ACR_MFA}
    monkeypatch.setattr(Session, "amr", property(lambda s: ["pwd"]))
    assert levels_met(session(PASSWORD)) == set()


def test_the_reported_acr_is_the_strongest_asked_and_met() -> None:
    met = frozenset({ACR_PHR, ACR_PHRH})
    assert strongest_met((ACR_PHR, ACR_PHRH), met) == ACR_PHRH
    assert strongest_met((ACR_PHR,), met) == ACR_PHR  # never one that was not asked
    assert strongest_met((ACR_MFA, ACR_PHR), frozenset({ACR_PHR, ACR_MFA})) == ACR_MFA
    assert strongest_met((ACR_PHRH,), frozenset({ACR_PHR})) is None  # never more than met
    assert strongest_met(("urn:example:gold",), met) is None
    assert strongest_met((), met) is None


def test_a_step_up_asks_for_the_first_known_level_not_met() -> None:
    assert step_up_level(request(ACR_PHRH, ACR_PHR), session(PASSWORD)) == ACR_PHRH
    assert step_up_level(request("urn:example:gold", ACR_PHR), session(PASSWORD)) == ACR_PHR
    assert step_up_level(request(ACR_PHRH, ACR_PHR), session(PASSKEY)) is None  # phr is met
    assert step_up_level(request(), session(PASSWORD)) is None
    assert step_up_level(request("urn:example:gold"), session(PASSWORD)) is None


def test_a_session_steps_up_once_per_request() -> None:
    assert step_up_level(request(ACR_PHR, stepped_up="s1"), session(PASSWORD)) is None
    assert step_up_level(request(ACR_PHR, stepped_up="s1"), session(PASSWORD, session_id="s2")) == ACR_PHR


def test_a_client_requiring_mfa_steps_a_one_factor_session_up_to_the_mfa_acr() -> None:
    assert step_up_level(request(), session(PASSWORD), mfa_required=True) == ACR_MFA
    assert step_up_level(request(ACR_PHR), session(PASSWORD), mfa_required=True) == ACR_PHR  # asked first
    assert step_up_level(request(ACR_PHR, stepped_up="s1"), session(PASSWORD), mfa_required=True) is None
