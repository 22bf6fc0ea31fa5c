"""The one rule for whether a sign-in needs a second factor (`second_factor_needed`), over the
whole matrix: tenant policy × client override × step-up × first factor × enrolled; and the
`amr` a session's proofs give (RFC 8176)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pyotp
import pytest

from keyturn.domain.assurance import ACR_MFA
from keyturn.domain.flow import Flow
from keyturn.domain.methods import MethodId
from keyturn.domain.mfa import passkey_satisfies
from keyturn.domain.oidc import Client
from keyturn.domain.session import AuthEvent, amr_of
from keyturn.domain.tenant import TenantSettings
from keyturn.flows.second_factor import second_factor_needed
from keyturn.methods import recovery_codes, totp

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FLOW = Flow(id="f", kind="login", binding_hash="b", created_at=NOW, expires_at=NOW, methods=("password",))
CLIENT = Client(
    client_id="c",
    name="App",
    secret_hash=None,
    redirect_uris=(),
    post_logout_redirect_uris=(),
    grant_types=("authorization_code",),
    token_endpoint_auth_method="none",
    first_party=True,
    id_token_signed_response_alg="ES256",
    created_at=NOW,
)


def tenant(policy: str = "never", satisfies: bool = True) -> TenantSettings:
    return TenantSettings.model_validate({"mfa": {"policy": policy, "passkey_satisfies": satisfies}})


def proof(method: MethodId, *, uv: bool = True, mfa: bool = False) -> AuthEvent:
    return AuthEvent(method=method, at=NOW, user_verified=uv, multi_factor=mfa)


@pytest.mark.parametrize(
    ("policy", "enrolled", "expected"),
    [
        ("never", False, None),
        ("never", True, None),
        ("optional", False, None),
        ("optional", True, "verify"),
        ("required", False, "enroll"),
        ("required", True, "verify"),
    ],
)
def test_a_password_sign_in(policy: str, enrolled: bool, expected: str | None) -> None:
    assert (
        second_factor_needed(tenant(policy), None, FLOW, (proof("password"),), enrolled=enrolled) == expected
    )


@pytest.mark.parametrize("client_policy", ["never", "optional", "required"])
def test_a_clients_policy_overrides_the_tenants(client_policy: str) -> None:
    client = replace(CLIENT, mfa=client_policy)  # type: ignore[arg-type]
    found = second_factor_needed(tenant("required"), client, FLOW, (proof("password"),), enrolled=True)
    assert found == (None if client_policy == "never" else "verify")


def test_step_up_to_the_mfa_acr_asks_whatever_the_policy() -> None:
    flow = replace(FLOW, requires=ACR_MFA)
    lenient = replace(CLIENT, mfa="never")
    assert (
        second_factor_needed(tenant("never"), lenient, flow, (proof("password"),), enrolled=False) == "enroll"
    )
    assert second_factor_needed(tenant("never"), None, flow, (proof("password"),), enrolled=True) == "verify"


def test_a_passkey_that_counted_as_two_factors_needs_nothing_more() -> None:
    counted = (proof("passkey", mfa=True),)
    assert second_factor_needed(tenant("required"), None, FLOW, counted, enrolled=True) is None
    not_counted = (proof("passkey"),)
    assert second_factor_needed(tenant("required"), None, FLOW, not_counted, enrolled=True) == "verify"


def test_a_passkey_without_user_verification_never_counts_as_two() -> None:
    assert amr_of((proof("passkey", uv=False, mfa=True),)) == ["phr"]
    found = second_factor_needed(
        tenant("required"), None, FLOW, (proof("passkey", uv=False, mfa=True),), enrolled=True
    )
    assert found == "verify"


def test_passkey_satisfies_only_under_a_policy() -> None:
    assert not passkey_satisfies(tenant("never"), None, None)
    assert passkey_satisfies(tenant("optional"), None, None)
    assert not passkey_satisfies(tenant("required", satisfies=False), None, None)
    assert passkey_satisfies(tenant("never"), replace(CLIENT, mfa="required"), None)
    assert passkey_satisfies(tenant("never"), None, ACR_MFA)


@pytest.mark.parametrize(
    ("proofs", "amr"),
    [
        ((proof("password"),), ["pwd"]),
        ((proof("password"), proof("totp")), ["pwd", "otp", "mfa"]),
        ((proof("password"), proof("security_key")), ["pwd", "hwk", "mfa"]),
        ((proof("password"), proof("recovery_code")), ["pwd", "otp", "mfa"]),
        ((proof("passkey"),), ["phr"]),
        ((proof("passkey", mfa=True),), ["phr", "mfa"]),
        ((proof("totp"),), ["otp"]),
    ],
)
def test_amr(proofs: tuple[AuthEvent, ...], amr: list[str]) -> None:
    assert amr_of(proofs) == amr


def test_totp_accepts_one_step_either_side_only() -> None:
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    step = int(NOW.timestamp()) // 30
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, app.at(NOW, counter_offset=offset), now=NOW) == step + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, app.at(NOW, counter_offset=offset), now=NOW) is None
    assert totp.matching_step(secret, "12345", now=NOW) is None
    assert totp.matching_step(secret, "abcdef", now=NOW) is None


def test_recovery_codes_are_ten_distinct_and_hash_the_same_however_typed() -> None:
    codes = recovery_codes.new_codes()
    assert len(set(codes)) == 10
    code = codes[0]
    assert recovery_codes.code_hash(code) == recovery_codes.code_hash(code.upper().replace("-", " "))
    assert recovery_codes.code_hash(code) != recovery_codes.code_hash(codes[1])
