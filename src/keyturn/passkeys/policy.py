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

from keyturn.domain.tenant import PasskeyOptions
from keyturn.errors import CeremonyError


def check_passkey_policy(options: PasskeyOptions, *, aaguid: str, backup_eligible: bool) -> None:
    """Refuse a passkey the tenant's policy does not accept, saying why in a stable code."""
    model = aaguid.lower()
    if model in options.aaguid_denylist or (
        options.aaguid_allowlist and model not in options.aaguid_allowlist
    ):
        raise CeremonyError(code="authenticator_not_allowed", detail=f"aaguid {model} refused by policy")
    wanted = options.allowed_credential_types
    if wanted == "device_bound" and backup_eligible:
        raise CeremonyError(code="synced_passkey_not_allowed", detail="backup-eligible credential")
    if wanted == "synced" and not backup_eligible:
        raise CeremonyError(code="device_bound_passkey_not_allowed", detail="credential not backup-eligible")
