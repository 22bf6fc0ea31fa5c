"""Which passkeys a tenant accepts: synced or device-bound, and which authenticator models.

A passkey is *device-bound* when its backup-eligible flag (BE, WebAuthn §6.1) is clear: the
authenticator promises the private key never leaves it. BE is fixed for a credential's life
(a change is refused elsewhere as `backup_eligibility_changed`), so the flag stored at
registration still describes the credential at sign-in. The AAGUID names the authenticator's
model as it reported it; without attestation it is the authenticator's own claim, which is
what allow- and deny-lists can act on (attested models are issue 12's attestation part).

The same rule runs when a passkey is registered and every time one is used, so tightening the
policy also stops passkeys registered before: an operator who denies a model found to be
vulnerable wants it cut off, not only kept out from now on.
"""

from __future__ import annotations

from keyturn.domain.oidc import CredentialTypes
from keyturn.domain.tenant import PasskeyOptions
from keyturn.errors import CeremonyError


def check_passkey_policy(
    options: PasskeyOptions,
    *,
    aaguid: str,
    backup_eligible: bool,
    client_types: CredentialTypes = "any",
) -> None:
    """Refuse a passkey the tenant's policy does not accept, saying why in a stable code. A
    sign-in for an OIDC client also meets that client's own `allowed_credential_types`
    (`client_types`): both must accept the passkey."""
    model = aaguid.lower()
    if model in options.aaguid_denylist or (
        options.aaguid_allowlist and model not in options.aaguid_allowlist
    ):
        raise CeremonyError(code="authenticator_not_allowed", detail=f"aaguid {model} refused by policy")
    for whose, wanted in (("tenant", options.allowed_credential_types), ("client", client_types)):
        if wanted == "device_bound" and backup_eligible:
            raise CeremonyError(
                code="synced_passkey_not_allowed", detail=f"backup-eligible credential ({whose} policy)"
            )
        if wanted == "synced" and not backup_eligible:
            raise CeremonyError(
                code="device_bound_passkey_not_allowed",
                detail=f"credential not backup-eligible ({whose} policy)",
            )
