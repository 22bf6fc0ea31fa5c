"""A killed process loses nothing it answered: every sign-in answered 200 has its `s` event.

Regression (issue 8): events waited in memory and were written every 0.2 s, so a `kill -9`
right after 16 answered sign-ins lost 4–6 of their `s` events. Now each event is written in
the transaction of its sign-in, before the answer; here a real `keyturn serve` is killed
with SIGKILL the moment the last answer arrives, and the database is read afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text

from keyturn.store.sql.engine import create_engine
from tests.support.server import free_port, running_server
from tests.support.soft_authenticator import SoftAuthenticator

PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
SIGN_INS = 16


def _ceremony(http: httpx2.Client, authenticator: SoftAuthenticator, path: str, body: dict[str, Any]) -> int:
    page = json.loads(PAGE_DATA.search(http.get(path).text).group(1))  # type: ignore[union-attr]
    headers = {"x-csrf-token": page["csrf"]}
    base = f"{path}/flows/{page['flow_id']}"
    options = http.post(f"{base}/passkey/options", json=body, headers=headers).json()
    answer = authenticator.create if path == "/signup" else authenticator.get
    credential = answer(options, origin=str(http.base_url).rstrip("/"))
    status: int = http.post(
        base, json={"method": "passkey", "credential": credential}, headers=headers
    ).status_code
    http.cookies.delete("keyturn_session")
    return status


def _signed_in_events(database_url: str) -> int:
    async def count() -> int:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(text("SELECT count(*) FROM events WHERE type = 's'")) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_sigkill_right_after_answered_sign_ins_loses_no_event(clean_database: str, tmp_path: Path) -> None:
    port = free_port()
    env = {"KEYTURN_PUBLIC_URL": f"http://localhost:{port}"}
    authenticator = SoftAuthenticator()
    with running_server(port=port, data_dir=tmp_path, database_url=clean_database, extra_env=env) as server:
        http = httpx2.Client(base_url=server.base_url, headers={"origin": server.base_url}, timeout=30)
        with http:
            assert _ceremony(http, authenticator, "/signup", {"email": "ada@example.com"}) == 200
            answered = sum(_ceremony(http, authenticator, "/login", {}) == 200 for _ in range(SIGN_INS))
            os.kill(server.pid, signal.SIGKILL)  # no shutdown, no flush: gone now

    assert answered == SIGN_INS
    assert _signed_in_events(clean_database) == SIGN_INS + 1  # and the sign-up's own sign-in
