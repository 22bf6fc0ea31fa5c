"""Per-client passkey policy (issue 12): a client registered for device-bound passkeys only
refuses a synced passkey at sign-in for its authorization (synced_passkey_not_allowed, an `f`
event with the reason, no session), and the page offers to add a device-bound one."""

from __future__ import annotations

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.oidc.clients import NewClient
from tests.support import browser, oidc, store
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"


def signed_up_then_out(client: TestClient, authenticator: SoftAuthenticator) -> str:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    return store.user_of(client, EMAIL).id


def sign_in_for(
    client: TestClient, registered: NewClient, authenticator: SoftAuthenticator, pkce: Pkce
) -> tuple[str, object]:
    """Start an authorization for `registered`, then sign in with a passkey on its /login page."""
    location = oidc.authorize(client, registered, pkce).headers["location"]
    page = client.get(location)
    assert page.status_code == 200
    data = browser.page_data(page)
    flow = browser.PageFlow(flow_id=data["flow_id"], csrf=data["csrf"], data=data)
    options = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers).json()
    credential = authenticator.get(options, origin=browser.ORIGIN)
    return page.text, browser.submit_passkey_login(client, flow, credential)


def test_a_device_bound_only_client_refuses_a_synced_passkey(client: TestClient, clock: FrozenClock) -> None:
    synced = SoftAuthenticator(backup_eligible=True, backup_state=True)
    user_id = signed_up_then_out(client, synced)
    bank = oidc.register(client, name="Bank", allowed_credential_types="device_bound")
    page, refused = sign_in_for(client, bank, synced, Pkce.new())
    assert refused.status_code == 400, refused.text  # type: ignore[attr-defined]
    assert refused.json()["error"] == "synced_passkey_not_allowed"  # type: ignore[attr-defined]
    assert 'id="add-device-bound"' in page and 'href="/account#add-passkey"' in page
    assert store.read(client, lambda tx: tx.list_user_sessions(user_id, now=clock.now(), limit=5)) == []
    [failed] = store.events_of(client, "f", user_id=user_id)
    assert failed.client_id == bank.client.client_id
    assert failed.details["error"] == "synced_passkey_not_allowed"
    assert "client policy" in failed.details["reason"]
    assert browser.storage(client)["authorization_codes"] == []


def test_the_same_synced_passkey_still_signs_in_to_other_clients(client: TestClient) -> None:
    synced = SoftAuthenticator()
    signed_up_then_out(client, synced)
    oidc.register(client, name="Bank", allowed_credential_types="device_bound")
    app = oidc.register(client, name="Blog")
    pkce = Pkce.new()
    _, signed_in = sign_in_for(client, app, synced, pkce)
    assert signed_in.status_code == 200, signed_in.text  # type: ignore[attr-defined]
    browser.sign_out(client)
    assert browser.login_with_passkey(client, synced).status_code == 200  # and without a client


def test_a_device_bound_only_client_accepts_a_device_bound_passkey(
    client: TestClient, clock: FrozenClock
) -> None:
    key = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    signed_up_then_out(client, key)
    bank = oidc.register(client, name="Bank", allowed_credential_types="device_bound")
    pkce = Pkce.new()
    _, signed_in = sign_in_for(client, bank, key, pkce)
    assert signed_in.status_code == 200, signed_in.text  # type: ignore[attr-defined]
    resumed = client.get(signed_in.json()["redirect_to"], follow_redirects=False)  # type: ignore[attr-defined]
    assert "code" in oidc.redirect_params(resumed)


def test_a_synced_only_client_refuses_a_device_bound_passkey(client: TestClient) -> None:
    key = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    signed_up_then_out(client, key)
    app = oidc.register(client, name="Family app", allowed_credential_types="synced")
    _, refused = sign_in_for(client, app, key, Pkce.new())
    assert refused.json()["error"] == "device_bound_passkey_not_allowed"  # type: ignore[attr-defined]
