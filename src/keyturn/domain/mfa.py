"""Which MFA policy is in force for a sign-in: the tenant's, a client's override, or Auth0's
MFA acr asked for by step-up (which always needs two factors)."""

from __future__ import annotations

from keyturn.domain.assurance import ACR_MFA, MfaPolicy
from keyturn.domain.oidc import Client
from keyturn.domain.tenant import TenantSettings


def effective_policy(tenant: TenantSettings, client: Client | None, requires: str | None) -> MfaPolicy:
    if requires == ACR_MFA:
        return "required"
    if client is not None and client.mfa is not None:
        return client.mfa
    return tenant.mfa.policy


def passkey_satisfies(tenant: TenantSettings, client: Client | None, requires: str | None) -> bool:
    """A user-verified passkey counts as two factors (and gains "mfa" in `amr`) when a policy
    is in force and `mfa.passkey_satisfies` is on; with no policy it is just a passkey."""
    return tenant.mfa.passkey_satisfies and effective_policy(tenant, client, requires) != "never"
