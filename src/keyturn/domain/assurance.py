"""Assurance vocabulary shared by second factors, MFA policy and step-up (issue 12).

`acr` values a client may ask for (`acr_values`, or the `acr` essential claim) and that an
ID token reports as met, and the `amr` value (RFC 8176) a session gains when two factors
were proved; and `levels_met`, the one rule for which levels a session's proofs reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:  # annotations only: domain.oidc and domain.tenant import this module
    from keyturn.domain.oidc import AuthorizationRequest
    from keyturn.domain.session import Session

ACR_PHR: Final = "phr"  # phishing-resistant: a passkey (OpenID EAP ACR values)
ACR_PHRH: Final = "phrh"  # phishing-resistant, with a device-bound key whose attestation was verified
ACR_MFA: Final = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"  # Auth0's MFA acr
ACR_VALUES: Final[tuple[str, ...]] = (ACR_PHR, ACR_PHRH, ACR_MFA)

# The levels a step-up reaches with a passkey alone (so only passkeys are offered for them).
PASSKEY_LEVELS: Final = frozenset({ACR_PHR, ACR_PHRH})

AMR_MFA: Final = "mfa"  # RFC 8176: more than one factor was proved

# mfa.policy (tenant, and a client's override): never; optional (those who enrolled are asked);
# required (users without a second factor enroll one at their next sign-in).
MfaPolicy = Literal["never", "optional", "required"]
MFA_POLICIES: Final[tuple[MfaPolicy, ...]] = ("never", "optional", "required")


def levels_met(session: Session) -> frozenset[str]:
    """The acr levels a session's proofs reach: `phr` for a user-verified passkey, `phrh` for a
    passkey whose attestation was verified as device-bound, the MFA acr when the session's amr
    says more than one factor was proved."""
    met: set[str] = set()
    for event in session.authenticated:
        if event.method == "passkey" and event.user_verified:
            met.add(ACR_PHR)
        if event.method == "passkey" and event.attested_device_bound:
            met.add(ACR_PHRH)
    if AMR_MFA in session.amr:
        met.add(ACR_MFA)
    return frozenset(met)


def strongest_met(asked: Iterable[str], met: frozenset[str]) -> str | None:
    """The acr to report: the highest asked level the session meets (phrh, then MFA, then phr),
    or None. Never a level that was not met."""
    wanted = set(asked) & met
    ranked = [level for level in (ACR_PHRH, ACR_MFA, ACR_PHR) if level in wanted]
    return ranked[0] if ranked else None


def step_up_level(
    request: AuthorizationRequest, session: Session, *, mfa_required: bool = False
) -> str | None:
    """The level this session must step up to for this request, or None: when it meets none of
    the levels asked, the first one asked that Keyturn can give (acr_values are in order of
    preference); else the MFA acr when the client's MFA policy requires two factors the session
    has not proved (`mfa_required`, `keyturn.domain.mfa.session_lacks_mfa`). A session steps up
    once per request."""
    if request.stepped_up_session == session.id:
        return None
    if request.acr_values and strongest_met(request.acr_values, levels_met(session)) is None:
        level = next((level for level in request.acr_values if level in ACR_VALUES), None)
        if level is not None:
            return level
    return ACR_MFA if mfa_required else None
