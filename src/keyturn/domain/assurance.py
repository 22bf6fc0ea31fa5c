"""Assurance vocabulary shared by second factors, MFA policy and step-up (issue 12).

`acr` values a client may ask for (`acr_values`, or the `acr` essential claim) and that an
ID token reports as met, and the `amr` value (RFC 8176) a session gains when two factors
were proved. The rules that decide which level a session meets live in the flows that use
them; this module only names things once.
"""

from __future__ import annotations

from typing import Final, Literal

ACR_PHR: Final = "phr"  # phishing-resistant: a passkey (OpenID EAP ACR values)
ACR_PHRH: Final = "phrh"  # phishing-resistant, with a device-bound key whose attestation was verified
ACR_MFA: Final = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"  # Auth0's MFA acr
ACR_VALUES: Final[tuple[str, ...]] = (ACR_PHR, ACR_PHRH, ACR_MFA)

AMR_MFA: Final = "mfa"  # RFC 8176: more than one factor was proved

# mfa.policy (tenant, and a client's override): never; optional (those who enrolled are asked);
# required (users without a second factor enroll one at their next sign-in).
MfaPolicy = Literal["never", "optional", "required"]
MFA_POLICIES: Final[tuple[MfaPolicy, ...]] = ("never", "optional", "required")
