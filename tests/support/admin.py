"""The dashboard from a test's side: operators made as `keyturn admin create` makes them,
their enrollment and sign-in through the same JSON calls admin.js makes."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from keyturn.operations import admins
from keyturn.operations.audit import CLI
from keyturn.wiring import command_context
from tests.support.browser import ORIGIN, call, page_data
from tests.support.soft_authenticator import SoftAuthenticator

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def create_operator(client: TestClient, email: str, role: str = "owner") -> str:
    """The enrollment link's path and query (/admin/enroll?token=…)."""

    async def work(rt: Any) -> str:
        async with command_context(rt) as ctx:
            link = await admins.create_operator(ctx, email, role, actor=CLI)
        return link.url.removeprefix(rt.settings.base_url)

    return call(client, work)


def token_of(link: str) -> str:
    return link.rsplit("token=", 1)[1]


def enrollment_ceremony(
    client: TestClient, authenticator: SoftAuthenticator, link: str, *, origin: str = ORIGIN
) -> tuple[dict[str, Any], dict[str, str]]:
    """Open the link's page and answer its creation options: (the body to post, its headers)."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    data = page_data(page)
    headers = {"x-csrf-token": data["csrf"]}
    body = {"flow": data["flow"], "token": token_of(link)}
    options = client.post("/admin/enroll/options", json=body, headers=headers)
    assert options.status_code == 200, options.text
    return {**body, "credential": authenticator.create(options.json(), origin=origin)}, headers


def enroll(client: TestClient, authenticator: SoftAuthenticator, link: str, *, origin: str = ORIGIN) -> Any:
    body, headers = enrollment_ceremony(client, authenticator, link, origin=origin)
    return client.post("/admin/enroll", json=body, headers=headers)


def sign_in(client: TestClient, authenticator: SoftAuthenticator, *, origin: str = ORIGIN) -> Any:
    page = client.get("/admin/login")
    assert page.status_code == 200, page.text
    data = page_data(page)
    headers = {"x-csrf-token": data["csrf"]}
    options = client.post("/admin/login/options", json={"flow": data["flow"]}, headers=headers)
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json(), origin=origin)
    return client.post("/admin/login", json={"flow": data["flow"], "credential": credential}, headers=headers)


def operator_signed_in(
    client: TestClient, email: str = "owner@example.com", role: str = "owner"
) -> SoftAuthenticator:
    authenticator = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    assert enroll(client, authenticator, create_operator(client, email, role)).status_code == 200
    assert sign_in(client, authenticator).status_code == 200
    return authenticator


def form_csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no form with a CSRF token"
    return match.group(1)
