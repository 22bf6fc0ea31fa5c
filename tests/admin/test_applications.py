"""/admin/applications: OIDC clients (secret shown once), redirect URIs, hooks, key rotation.

The same operations as `keyturn clients|hooks|keys`; bad input re-renders with the message
next to its field and stores nothing; every change is a `sapi` naming the operator.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from keyturn.oidc.clients import hash_secret
from keyturn.store.protocols import ReadTx
from tests.support import admin, browser, store

OWNER = "owner@example.com"


def post(client: TestClient, path: str, form: dict[str, str] | None = None) -> Any:
    csrf = admin.form_csrf(client.get("/admin/applications").text)
    return client.post(path, data={**(form or {}), "csrf": csrf}, follow_redirects=False)


def operations(client: TestClient) -> list[str]:
    return [
        e.details["operation"]
        for e in store.events_of(client, "sapi")
        if e.details["actor"] == OWNER and e.details["operation"] != "enroll_operator"
    ]


def clients_of(client: TestClient) -> list[Any]:
    async def query(tx: ReadTx) -> list[Any]:
        return await tx.list_clients()

    return store.read(client, query)


def test_creating_a_client_shows_its_secret_once(client: TestClient) -> None:
    admin.operator_signed_in(client)
    made = post(
        client, "/admin/applications/clients", {"name": "Shop", "redirect_uris": "https://shop.example/cb\n"}
    )
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    [secret] = re.findall(r"<code data-client-secret>([^<]+)</code>", made.text)
    [registered] = clients_of(client)
    assert registered.name == "Shop" and registered.redirect_uris == ("https://shop.example/cb",)
    assert registered.secret_hash == hash_secret(secret)
    again = client.get("/admin/applications")
    assert registered.client_id in again.text and secret not in again.text
    assert operations(client) == ["create_client"]


def test_a_public_client_has_no_secret(client: TestClient) -> None:
    admin.operator_signed_in(client)
    made = post(
        client,
        "/admin/applications/clients",
        {"name": "SPA", "redirect_uris": "http://127.0.0.1:5173/cb", "kind": "public"},
    )
    assert made.status_code == 201 and "data-client-secret" not in made.text
    assert clients_of(client)[0].is_public


def test_bad_client_input_is_shown_next_to_its_field_and_stores_nothing(client: TestClient) -> None:
    admin.operator_signed_in(client)
    unnamed = post(
        client, "/admin/applications/clients", {"name": " ", "redirect_uris": "https://shop.example/cb"}
    )
    assert unnamed.status_code == 400 and 'id="client-name-error"' in unnamed.text
    insecure = post(
        client, "/admin/applications/clients", {"name": "Shop", "redirect_uris": "http://shop.example/cb"}
    )
    assert insecure.status_code == 400 and 'id="client-redirect_uris-error"' in insecure.text
    assert 'value="Shop"' in insecure.text  # what was typed stays
    none = post(client, "/admin/applications/clients", {"name": "Shop", "redirect_uris": ""})
    assert none.status_code == 400 and 'id="client-redirect_uris-error"' in none.text
    assert clients_of(client) == [] and operations(client) == []


def test_editing_redirect_uris_and_deleting_a_client(client: TestClient) -> None:
    admin.operator_signed_in(client)
    post(client, "/admin/applications/clients", {"name": "Shop", "redirect_uris": "https://shop.example/cb"})
    [registered] = clients_of(client)
    path = f"/admin/applications/clients/{registered.client_id}/redirect-uris"
    bad = post(client, path, {"redirect_uris": "https://shop.example/cb#frag"})
    assert bad.status_code == 400 and f'id="uris-{registered.client_id}-error"' in bad.text
    assert clients_of(client)[0].redirect_uris == ("https://shop.example/cb",)
    saved = post(
        client,
        path,
        {
            "redirect_uris": "https://shop.example/a\nhttps://shop.example/b",
            "post_logout_redirect_uris": "https://shop.example/",
        },
    )
    assert saved.status_code == 303
    [edited] = clients_of(client)
    assert edited.redirect_uris == ("https://shop.example/a", "https://shop.example/b")
    assert edited.post_logout_redirect_uris == ("https://shop.example/",)
    assert post(client, f"/admin/applications/clients/{registered.client_id}/delete").status_code == 303
    assert clients_of(client) == []
    assert post(client, f"/admin/applications/clients/{registered.client_id}/delete").status_code == 404
    assert operations(client) == ["create_client", "update_client", "delete_client"]


def test_hooks_are_created_with_their_secret_once_and_deleted(client: TestClient) -> None:
    admin.operator_signed_in(client)
    bad = post(client, "/admin/applications/hooks", {"trigger": "post-login", "url": "ftp://hooks.example"})
    assert bad.status_code == 400 and 'id="hook-url-error"' in bad.text
    assert browser.storage(client)["hooks"] == []
    made = post(
        client, "/admin/applications/hooks", {"trigger": "post-login", "url": "https://hooks.example/h"}
    )
    assert made.status_code == 201
    [secret] = re.findall(r"<code data-hook-secret>([^<]+)</code>", made.text)
    page = client.get("/admin/applications")
    assert "https://hooks.example/h" in page.text and secret not in page.text
    [hook_id] = re.findall(r'data-hook="([^"]+)"', page.text)
    assert secret not in repr(browser.storage(client)["hooks"])  # sealed at rest
    assert post(client, f"/admin/applications/hooks/{hook_id}/delete").status_code == 303
    assert browser.storage(client)["hooks"] == []
    assert operations(client) == ["create_hook", "delete_hook"]


def test_rotate_signing_keys(client: TestClient) -> None:
    admin.operator_signed_in(client)
    assert client.get("/.well-known/jwks.json").status_code == 200  # keys are made at first use
    before = set(
        re.findall(r'data-kid="([^"]+)" data-state="active"', client.get("/admin/applications").text)
    )
    assert len(before) == 2
    assert post(client, "/admin/applications/keys/rotate").status_code == 303
    page = client.get("/admin/applications").text
    active = set(re.findall(r'data-kid="([^"]+)" data-state="active"', page))
    retired = set(re.findall(r'data-kid="([^"]+)" data-state="retired"', page))
    assert len(active) == 2 and active.isdisjoint(before) and retired == before
    [event] = [e for e in store.events_of(client, "sapi") if e.details["operation"] == "rotate_signing_keys"]
    assert event.details["actor"] == OWNER and set(event.details["kids"]) == active


def test_a_viewer_sees_no_change_buttons_and_every_post_is_403(client: TestClient) -> None:
    admin.operator_signed_in(client)
    post(client, "/admin/applications/clients", {"name": "Shop", "redirect_uris": "https://shop.example/cb"})
    [registered] = clients_of(client)
    client.cookies.clear()
    admin.operator_signed_in(client, "viewer@example.com", "viewer")
    page = client.get("/admin/applications")
    assert page.status_code == 200 and "Shop" in page.text
    for absent in ("Create client", "Add hook", "Rotate signing keys", "Save redirect URIs", "Delete"):
        assert f">{absent}</button>" not in page.text
    csrf = admin.form_csrf(page.text)
    for path in (
        "/admin/applications/clients",
        f"/admin/applications/clients/{registered.client_id}/redirect-uris",
        f"/admin/applications/clients/{registered.client_id}/delete",
        "/admin/applications/hooks",
        "/admin/applications/keys/rotate",
    ):
        answer = client.post(path, data={"csrf": csrf, "name": "x", "redirect_uris": "https://x.example/cb"})
        assert (answer.status_code, answer.text) == (403, "Forbidden."), path
    assert len(clients_of(client)) == 1
    assert operations(client) == ["create_client"]
