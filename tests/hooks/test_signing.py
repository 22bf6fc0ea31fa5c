"""The `keyturn-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
and `verify`, what a receiver runs: right secret, exact body, at most five minutes old.

The hook secret itself is kept only sealed under the KEK, bound to its hook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest
from cryptography.exceptions import InvalidTag
from starlette.testclient import TestClient

from keyturn.hooks.signing import SIGNATURE_HEADER, TOLERANCE_SECONDS, sign, verify
from keyturn.operations.audit import CLI
from keyturn.operations.hooks import add_hook
from keyturn.runtime import Runtime
from keyturn.sealing import unseal
from tests.support import browser, store

SECRET = b"whsec-test-secret"
BODY = json.dumps({"trigger": "post-login", "user": {"user_id": "u1", "email": "ada@example.com"}}).encode()
NOW = 1_795_608_000


def test_the_header_is_named_keyturn_signature_and_has_a_time_and_a_v1_hmac() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)

    assert SIGNATURE_HEADER == "keyturn-signature"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header), header
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_signature_verifies_with_the_same_secret_and_body() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, timestamp=NOW), now=NOW)


def test_another_secret_does_not_verify() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert not verify(b"another-secret", BODY, header, now=NOW)
    assert not verify(SECRET + b"x", BODY, header, now=NOW)
    assert not verify(b"", BODY, header, now=NOW)


@pytest.mark.parametrize(
    "changed",
    [
        BODY.replace(b"ada@example.com", b"eve@example.com"),
        BODY + b"\n",
        BODY[:-1],
        b"",
        json.dumps(json.loads(BODY), indent=2).encode(),  # same JSON, other bytes
    ],
)
def test_a_changed_body_does_not_verify(changed: bytes) -> None:
    assert changed != BODY
    assert not verify(SECRET, changed, sign(SECRET, BODY, timestamp=NOW), now=NOW)


def test_a_signature_older_than_five_minutes_is_a_replay() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)

    assert TOLERANCE_SECONDS == 300
    assert verify(SECRET, BODY, header, now=NOW + 299)
    assert verify(SECRET, BODY, header, now=NOW + 300)
    assert not verify(SECRET, BODY, header, now=NOW + 301)
    assert not verify(SECRET, BODY, header, now=NOW + 86_400)


def test_a_signature_from_far_in_the_future_does_not_verify() -> None:
    header = sign(SECRET, BODY, timestamp=NOW + 301)
    assert not verify(SECRET, BODY, header, now=NOW)
    assert verify(SECRET, BODY, sign(SECRET, BODY, timestamp=NOW + 60), now=NOW)  # small clock skew


def test_the_tolerance_can_be_tightened() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert verify(SECRET, BODY, header, now=NOW + 30, tolerance=30)
    assert not verify(SECRET, BODY, header, now=NOW + 31, tolerance=30)


def test_moving_the_time_of_a_signature_breaks_it() -> None:
    """A replayer cannot refresh an old signature's time: the time is inside the HMAC."""
    old = sign(SECRET, BODY, timestamp=NOW)
    digest = old.split("v1=", 1)[1]
    refreshed = f"t={NOW + 3600},v1={digest}"
    assert not verify(SECRET, BODY, refreshed, now=NOW + 3600)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=",
        f"t={NOW}",
        f"v1={'0' * 64}",
        f"t=soon,v1={'0' * 64}",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW},v1=",
        f"t={NOW};v1={'0' * 64}",
    ],
)
def test_malformed_headers_do_not_verify(header: str) -> None:
    assert verify(SECRET, BODY, header, now=NOW) is False


def test_a_signature_with_a_changed_digest_does_not_verify() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not verify(SECRET, BODY, flipped, now=NOW)
    assert not verify(SECRET, BODY, header.upper().replace("T=", "t=").replace("V1=", "v1="), now=NOW)


@pytest.mark.parametrize("header", [f"t={NOW},v1={'0' * 63}é", "t=١٧٩٥٦٠٨٠٠٠,v1=0"])
def test_a_header_with_non_ascii_characters_is_refused_not_an_exception(header: str) -> None:
    """Regression (fixed earlier): verify() must not raise for
    non-ASCII text. Headers are attacker input (frameworks decode them as Latin-1), so a
    receiver using verify() answers a 500 instead of refusing the request."""
    assert verify(SECRET, BODY, header, now=NOW) is False


def test_the_hook_secret_is_stored_only_sealed_and_bound_to_its_hook(client: TestClient) -> None:
    first = store.in_context(
        client, lambda ctx: add_hook(ctx, actor=CLI, trigger="post-login", url="https://hooks.example/a")
    )
    second = store.in_context(
        client, lambda ctx: add_hook(ctx, actor=CLI, trigger="post-login", url="https://hooks.example/b")
    )

    async def stored(rt: Runtime) -> tuple[bytes, bytes, bytes]:
        async with rt.db.read() as tx:
            by_id = {hook.id: hook for hook in await tx.list_hooks()}
        return by_id[first.hook.id].secret_sealed, by_id[second.hook.id].secret_sealed, rt.kek

    sealed, other_sealed, kek = browser.call(client, stored)
    assert len(first.secret) >= 43  # 32 random bytes, URL-safe base64
    assert first.secret != second.secret
    assert first.secret.encode() not in sealed
    assert unseal(kek, sealed, bound_to=first.hook.id) == first.secret.encode()
    with pytest.raises(InvalidTag):
        unseal(kek, sealed, bound_to=second.hook.id)  # copied onto another hook, it does not open
    with pytest.raises(InvalidTag):
        unseal(kek, other_sealed, bound_to=first.hook.id)
