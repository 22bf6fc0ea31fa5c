"""Is this password in a breach? Two sources, one answer (Credential Guard's question).

- **range_api** (k-anonymity, the Pwned Passwords range protocol): only the first 5 hex
  digits of the password's upper-case SHA-1 leave Keyturn, as `GET <range_url><PREFIX>`; the
  answer lists `SUFFIX:COUNT` lines for every hash with that prefix. `Add-Padding: true` is
  sent, so the answer's size says nothing either; padding lines have a count of 0 and are
  not breaches.
- **file**: an offline list an operator downloads, one upper-case SHA-1 per line, optionally
  `:COUNT` after it (`HASH:COUNT`, what the HIBP downloader writes), sorted by hash (as that
  tool writes it). It is searched in place (binary search over a memory map): a 40 GB list
  costs a few page reads per look-up, and nothing is loaded up front.
"""

from __future__ import annotations

import asyncio
import hashlib
import mmap
import os

import httpx2

from keyturn.domain.tenant import BreachedPasswords

PREFIX_LENGTH = 5
HASH_LENGTH = 40


class BreachCheckUnavailable(Exception):
    """The source gave no answer (down, slow, missing file); `reason` is loggable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


async def is_breached(policy: BreachedPasswords, password: str) -> bool:
    """True when the password is listed with a count above 0. Raises BreachCheckUnavailable."""
    digest = sha1_hex(password)
    if policy.mode == "range_api":
        return await _in_range(policy, digest)
    if policy.mode == "file":
        assert policy.file is not None
        return await asyncio.to_thread(_in_file, policy.file, digest)
    return False


def _count(text: str) -> int:
    try:
        return int(text.strip() or "1")
    except ValueError:
        return 0


async def _in_range(policy: BreachedPasswords, digest: str) -> bool:
    prefix, suffix = digest[:PREFIX_LENGTH], digest[PREFIX_LENGTH:]
    url = policy.range_url if policy.range_url.endswith("/") else policy.range_url + "/"
    try:
        async with httpx2.AsyncClient(timeout=policy.timeout_seconds, follow_redirects=False) as http:
            response = await http.get(
                url + prefix, headers={"add-padding": "true", "user-agent": "Keyturn-Credential-Guard/1"}
            )
    except httpx2.HTTPError as exc:
        raise BreachCheckUnavailable(f"range API unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise BreachCheckUnavailable(f"range API answered {response.status_code}")
    for line in response.text.splitlines():
        listed, _, count = line.partition(":")
        if listed.strip().upper() == suffix:
            return _count(count) > 0
    return False


def _in_file(path: str, digest: str) -> bool:
    """Binary search over the sorted lines of the file, without reading it all."""
    target = digest.encode()
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                low, high = 0, size  # both always at a line's start (or the end)
                while low < high:
                    middle = (low + high) // 2
                    start = data.rfind(b"\n", 0, middle) + 1
                    end = data.find(b"\n", middle)
                    end = size if end == -1 else end
                    line = data[start:end].strip()
                    key = line[:HASH_LENGTH].upper()
                    if key < target:
                        low = end + 1
                    elif key > target:
                        high = start
                    else:
                        return _count(line[HASH_LENGTH + 1 :].decode(errors="replace")) > 0
    except OSError as exc:
        raise BreachCheckUnavailable(f"breached-password file: {exc.strerror}") from None
    return False
