"""Which MFA policy is in force for a sign-in: the tenant's, a client's override, or Auth0's
MFA acr asked for by step-up (which always needs two factors)."""

from __future__ import annotations

from keyturn.domain.assurance import ACR_MFA, MfaPolicy
from keyturn.domain.oidc import Client
from keyturn.domain.session import Session, proves_mfa
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


def session_lacks_mfa(tenant: TenantSettings, client: Client, session: Session) -> bool:
    """A session made under a weaker policy (another client's, or the tenant's before it
    changed), signing in to a client whose policy requires two factors: it steps up first. A
    user-verified passkey counts when `mfa.passkey_satisfies` is on."""
    if effective_policy(tenant, client, None) != "required" or proves_mfa(session.authenticated):
        return False
    passkey = any(e.method == "passkey" and e.user_verified for e in session.authenticated)
    return not (passkey and passkey_satisfies(tenant, client, None))
