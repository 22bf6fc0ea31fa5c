"""The README's configuration reference names every setting there is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyturn.domain.tenant import TenantSettings
from keyturn.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def _leaf_pointers(document: dict[str, Any], prefix: str = "") -> list[str]:
    pointers = []
    for key, value in document.items():
        path = f"{prefix}/{key}"
        pointers.extend(_leaf_pointers(value, path) if isinstance(value, dict) else [path])
    return pointers


def test_every_process_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert missing == []


def test_every_tenant_setting_is_documented() -> None:
    pointers = _leaf_pointers(TenantSettings().model_dump(mode="json"))
    assert "/passkey_options/max_passkeys_per_user" in pointers
    missing = [pointer for pointer in pointers if f"`{pointer}`" not in README]
    assert missing == []
