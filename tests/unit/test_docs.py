"""The README's references name every setting and every error message there is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from keyturn.domain.tenant import TenantSettings
from keyturn.messages import MESSAGES
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


def test_every_message_id_is_listed_with_its_text() -> None:
    """The README's error-code list is the catalogue's, id by id and word for word."""
    missing = [
        message_id
        for message_id, text in MESSAGES.items()
        if f"| `{message_id}` | {text.replace('|', chr(92) + '|')} |" not in README
    ]
    assert missing == []


SOURCE = Path(__file__).parents[2] / "src" / "keyturn"


def test_every_code_and_message_id_raised_has_a_text() -> None:
    """Each `code="…"` / `message="…"` a raise site names, and each error class's code, is in
    the catalogue (an id without a text would fail only when that error happens)."""
    named: set[str] = set()
    for module in SOURCE.rglob("*.py"):
        text = module.read_text()
        named |= set(re.findall(r'\b(?:code|message)="([a-z_][a-z0-9_.]*)"', text))
        named |= set(re.findall(r'^\s+code = "([a-z_]+)"', text, re.M))
    assert len(named) > 60, "the scan finds the raise sites"
    assert sorted(named - set(MESSAGES)) == []


def test_no_text_in_the_catalogue_is_dead() -> None:
    """Every message id is used somewhere in the code (a quoted literal outside messages.py)."""
    code = "\n".join(m.read_text() for m in SOURCE.rglob("*.py") if m.name != "messages.py")
    assert sorted(m for m in MESSAGES if f'"{m}"' not in code) == []
