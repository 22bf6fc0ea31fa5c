"""`keyturn clients create --scope` refuses a token RFC 6749 §3.3 does not allow (a quote, a
backslash, a control character) with its clear message, and stores no client."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyturn import messages
from tests.cli.test_clients_cli import stored_clients
from tests.support.cli import Keyturn


@pytest.mark.parametrize("bad", ['read"users', "read\\users", "read:users\x7f"])
def test_an_invalid_scope_token_exits_non_zero_with_its_message_and_stores_nothing(
    clean_database: str, tmp_path: Path, bad: str
) -> None:
    keyturn = Keyturn(tmp_path, clean_database)
    expected = messages.text("invalid_scope_token", {"scope": bad})

    code, out, err = keyturn(
        "clients",
        "create",
        "--name",
        "Worker",
        "--grant",
        "client_credentials",
        "--scope",
        f"read:logs {bad}",
    )

    assert code != 0, out
    assert out == ""
    assert expected in err, err
    assert "Traceback" not in err
    assert stored_clients(clean_database) == []
