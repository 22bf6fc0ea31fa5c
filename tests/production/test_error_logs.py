"""A request that fails unexpectedly, on a real `keyturn serve` with `log_format: json`: the
client gets 500 `server_error`, and the log holds its traceback once, as a field of one JSON
object that names the request, never as loose lines and never a second time from uvicorn.

The failure is a real one: a stored row the code cannot read (a passkey whose transports are
a number, written behind Keyturn's back), which every backend lets through the same way.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import update

from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.tables import passkeys
from tests.production.test_operability import json_logging_server, passkey_sign_up_and_in


def _corrupt_every_passkey(database_url: str) -> None:
    async def corrupt() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(update(passkeys).values(transports=5))
        finally:
            await engine.dispose()

    asyncio.run(corrupt())


def test_a_server_error_is_logged_once_as_one_json_object_with_its_traceback(
    clean_database: str, tmp_path: Path
) -> None:
    with json_logging_server(clean_database, tmp_path) as (server, http, origin):
        passkey_sign_up_and_in(http, origin, sign_in=False)
        _corrupt_every_passkey(clean_database)

        failed = http.get("/account", headers={"x-request-id": "the-failing-one"})
        after = http.get("/health/live")  # the server goes on
        lines = server.log_path.read_text().splitlines()

    assert failed.status_code == 500
    assert failed.json()["error"] == "server_error"
    assert "Traceback" not in failed.text
    assert after.status_code == 200
    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    with_traceback = [r for r in records if "traceback" in r]
    assert len(with_traceback) == 1, [(r["logger"], r["message"]) for r in with_traceback]
    [logged] = with_traceback
    assert logged["level"] == "error"
    assert logged["request_id"] == "the-failing-one"
    assert logged["path"] == "/account"
    assert logged["traceback"].startswith("Traceback (most recent call last):")
    assert "TypeError" in logged["traceback"]
    assert not any("Exception in ASGI application" in r["message"] for r in records)
