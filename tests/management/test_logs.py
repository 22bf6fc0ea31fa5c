"""/api/v2/logs and /api/v2/users/{id}/logs: events written by real sign-ups, sign-ins,
ceremonies, token exchanges and management calls, with Auth0's type codes and fields; never a
password, token, client secret or ceremony challenge; filtered, paged, read from a checkpoint;
and stored before the response that reports what they record (a refusal keeps only its own)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.context import Context
from keyturn.domain.events import Event, EventType
from keyturn.domain.identity import USER_HANDLE_BYTES, User
from keyturn.errors import Conflict
from keyturn.ids import new_id
from keyturn.operations.audit import CLI, record_change
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.management.conftest import (
    PASSWORD,
    Api,
    assert_error,
    client_credentials,
    machine_client,
    secret_of,
)
from tests.support import browser, oidc, store
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.store import events_of, user_of

EMAIL = "ada@example.com"
EVENT_FIELDS = {
    "log_id",
    "date",
    "type",
    "description",
    "ip",
    "user_agent",
    "user_id",
    "client_id",
    "details",
}


@pytest.fixture
def settings(clean_database: str, tmp_path: Path) -> Settings:
    """As everywhere, but sign-ups send no verification mail: these timelines are of sign-ins
    and API calls, which `svr` and the background sender's `email_sent` (at a moment of its
    own) would join."""
    base = Settings(database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL)
    tenant = base.default_tenant()
    quiet = tenant.model_copy(update={"verification": tenant.verification.model_copy(update={"mode": "off"})})
    return base.model_copy(update={"tenant": quiet})


def logs_of_type(api: Api, event_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.logs(q=f"type:{event_type}")
    assert all(event["type"] == event_type for event in found)
    return found


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, events
    return events[0]


def all_logs(api: Api) -> list[dict[str, Any]]:
    """Every event, newest first, page by page."""
    events: list[dict[str, Any]] = []
    page = 0
    while True:
        body = api.ok(api.get("/logs", params={"page": page, "per_page": 100, "include_totals": "true"}))
        events += body["logs"]
        if len(events) >= body["total"]:
            return events
        page += 1


def assert_event_shape(event: dict[str, Any]) -> None:
    assert set(event) >= EVENT_FIELDS, event
    assert isinstance(event["log_id"], str) and event["log_id"]
    assert event["date"].endswith("Z")
    assert isinstance(event["description"], str) and event["description"]
    assert event["ip"] == "testclient"
    assert isinstance(event["details"], dict)


def passkey_signup(client: TestClient, email: str = EMAIL) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    return authenticator


# --- events written by real actions ---------------------------------------------------------------


def test_a_passkey_signup_is_ss_with_the_passkey_method(client: TestClient, api: Api) -> None:
    flow, options = browser.signup_options(client, EMAIL)
    credential = SoftAuthenticator().create(options, origin=browser.ORIGIN)
    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers={**flow.headers, "user-agent": "Ada's Browser/1.0"},
    )
    assert response.status_code == 200, response.text
    user = user_of(client, EMAIL)

    event = only(logs_of_type(api, "ss"))

    assert_event_shape(event)
    assert event["user_id"] == user.id
    assert event["user_name"] == EMAIL
    assert event["user_agent"] == "Ada's Browser/1.0"
    assert event["client_id"] is None
    assert event["description"] == "Successful signup"
    assert event["details"]["authentication_method"] == "passkey"
    assert event["date"] == "2026-11-25T12:00:00Z"


def test_a_password_signup_is_ss_with_the_password_method(client: TestClient, api: Api) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200

    event = only(logs_of_type(api, "ss"))

    assert_event_shape(event)
    assert event["user_id"] == user_of(client, EMAIL).id
    assert event["details"]["authentication_method"] == "password"


def test_a_passkey_sign_in_is_s_with_phr(client: TestClient, api: Api, clock: FrozenClock) -> None:
    authenticator = passkey_signup(client)
    browser.sign_out(client)
    clock.advance(minutes=1)

    assert browser.login_with_passkey(client, authenticator).status_code == 200

    sign_in, at_signup = logs_of_type(api, "s")  # a sign-up signs in too
    assert_event_shape(sign_in)
    assert sign_in["user_id"] == user_of(client, EMAIL).id
    assert sign_in["details"]["prompts"][0]["performed_amr"] == ["phr"]
    assert sign_in["date"] == "2026-11-25T12:01:00Z"
    assert at_signup["date"] == "2026-11-25T12:00:00Z"
    # Only the sign-up's options are logged: the discoverable (button/autofill) options every
    # /login view asks for are counted in /metrics instead.
    started = logs_of_type(api, "passkey_challenge_started")
    assert [e["details"]["mode"] for e in started] == ["registration"]


def test_a_password_sign_in_is_s_with_pwd(client: TestClient, api: Api) -> None:
    api.create_user(EMAIL, password=PASSWORD)

    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200

    event = only(logs_of_type(api, "s"))
    assert event["details"]["prompts"][0]["performed_amr"] == ["pwd"]


def test_a_wrong_password_is_fp_and_an_unknown_email_is_fu(client: TestClient, api: Api) -> None:
    user = api.create_user(EMAIL, password=PASSWORD)

    assert browser.login_with_password(client, EMAIL, "not the password").status_code == 401
    assert browser.login_with_password(client, "nobody@example.com", PASSWORD).status_code == 401

    wrong_password = only(logs_of_type(api, "fp"))
    assert_event_shape(wrong_password)
    assert wrong_password["user_id"] == user["user_id"]
    unknown = only(logs_of_type(api, "fu"))
    assert_event_shape(unknown)
    assert unknown["user_id"] is None
    assert unknown["user_name"] == "nobody@example.com"
    assert logs_of_type(api, "s") == []


def identify(client: TestClient, email: str) -> tuple[browser.PageFlow, dict[str, Any]]:
    """Identifier-first: Continue with an email, get a passkey request for that account."""
    flow = browser.open_page(client, "/login")
    response = client.post(
        f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers
    )
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["passkey"]
    return flow, options


def test_a_passkey_challenge_started_and_failed(client: TestClient, api: Api, clock: FrozenClock) -> None:
    authenticator = passkey_signup(client)
    browser.sign_out(client)
    clock.advance(minutes=1)
    flow, options = identify(client, EMAIL)
    credential = authenticator.get(
        options, origin=browser.ORIGIN, challenge_override="AAAAAAAAAAAAAAAAAAAAAA"
    )

    assert browser.submit_passkey_login(client, flow, credential).status_code == 400

    started = logs_of_type(api, "passkey_challenge_started")
    assert [e["details"]["mode"] for e in started] == ["identifier_first", "registration"]
    assert started[0]["user_id"] == user_of(client, EMAIL).id
    assert started[0]["date"] == "2026-11-25T12:01:00Z"
    failed = only(logs_of_type(api, "passkey_challenge_failed"))
    assert_event_shape(failed)
    assert failed["details"]["error"]
    assert failed["description"] == "Passkey challenge failed"
    assert failed["date"] == "2026-11-25T12:01:00Z"
    assert [e["date"] for e in logs_of_type(api, "s")] == ["2026-11-25T12:00:00Z"]  # the sign-up's only


def test_adding_a_passkey_on_account_is_gd_enrollment_complete(client: TestClient, api: Api) -> None:
    passkey_signup(client)
    csrf = browser.open_page(client, "/account").csrf
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf}).json()
    credential = SoftAuthenticator().create(started["options"], origin=browser.ORIGIN)
    added = client.post(
        "/account/passkeys",
        json={"flow_id": started["flow_id"], "credential": credential},
        headers={"x-csrf-token": started["csrf"]},
    )
    assert added.status_code == 200, added.text

    event = only(logs_of_type(api, "gd_enrollment_complete"))
    assert_event_shape(event)
    assert event["user_id"] == user_of(client, EMAIL).id
    assert event["details"]["passkey_id"] == added.json()["id"]


def test_logout_is_slo(client: TestClient, api: Api) -> None:
    passkey_signup(client)

    browser.sign_out(client)

    event = only(logs_of_type(api, "slo"))
    assert_event_shape(event)
    assert event["user_id"] == user_of(client, EMAIL).id


def test_client_credentials_is_seccft_and_a_bad_secret_is_not(client: TestClient, api: Api) -> None:
    machine = machine_client(client, ["read:users"], name="reporting")
    assert client_credentials(client, machine).status_code == 200
    refused = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(machine.client.client_id, "not-the-secret"),
    )
    assert refused.status_code == 401

    exchanges = [e for e in logs_of_type(api, "seccft") if e["client_id"] == machine.client.client_id]
    event = only(exchanges)
    assert_event_shape(event)
    assert event["details"]["scope"] == "read:users"
    assert event["user_id"] is None


def test_a_management_change_is_sapi_naming_the_client(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    api.token()  # registers the management client (a sapi of its own), a second before the rest
    clock.advance(seconds=1)
    created = api.create_user(EMAIL, password=PASSWORD)
    clock.advance(seconds=1)
    api.ok(api.patch(f"/users/{created['user_id']}", json={"password": "another long passphrase"}))

    changes = logs_of_type(api, "sapi")

    # The oldest is the management client's own registration, made like a CLI command.
    assert [e["details"]["operation"] for e in changes] == ["update_user", "create_user", "create_client"]
    update, create, registration = changes
    for event in (update, create):
        assert_event_shape(event)
        assert event["client_id"] == api.client_id
        assert event["details"]["actor"] == api.client_id
        assert event["user_id"] == created["user_id"]
        assert event["details"]["user_id"] == created["user_id"]
    assert create["details"]["method"] == "POST"
    assert create["details"]["path"] == "/api/v2/users"
    assert update["details"]["method"] == "PATCH"
    assert update["details"]["path"] == f"/api/v2/users/{created['user_id']}"
    assert update["details"]["fields"] == ["password"]
    assert registration["details"]["actor"] == "cli"
    assert registration["details"]["registered_client_id"] == api.client_id
    assert registration["client_id"] is None


def test_a_refused_management_change_is_fapi(client: TestClient, api: Api, clock: FrozenClock) -> None:
    api.token()  # registers the management client (a sapi of its own), a second before the rest
    clock.advance(seconds=1)
    api.create_user(EMAIL)

    assert api.post("/users", json={"email": EMAIL}).status_code == 409
    clock.advance(seconds=1)
    assert api.post("/users", json={"email": "bob@example.com", "password": "short"}).status_code == 400
    assert api.get("/users/nobody").status_code == 404  # reads are not changes

    refusals = logs_of_type(api, "fapi")
    assert [e["details"]["method"] for e in refusals] == ["POST", "POST"]
    assert refusals[1]["details"]["path"] == "/api/v2/users"
    assert refusals[0]["details"]["error"] == "password_too_short"
    for event in refusals:
        assert_event_shape(event)
    sapi = logs_of_type(api, "sapi")
    assert [e["details"]["operation"] for e in sapi] == ["create_user", "create_client"]  # and the machine's


def test_a_refused_management_change_names_the_client_that_tried(client: TestClient, api: Api) -> None:
    """Auth0's fapi carries the client_id, as Keyturn's sapi does: who tried matters as much."""
    api.create_user(EMAIL)

    assert api.post("/users", json={"email": EMAIL}).status_code == 409

    event = only(logs_of_type(api, "fapi"))
    assert event["client_id"] == api.client_id


# --- no secrets -----------------------------------------------------------------------------------


def test_no_log_holds_a_password_token_secret_or_challenge(client: TestClient, api: Api) -> None:
    secrets: list[str] = []
    # Sign-up with a passkey, capturing the ceremony's challenge.
    authenticator = SoftAuthenticator()
    flow, options = browser.signup_options(client, EMAIL)
    secrets.append(options["challenge"])
    credential = authenticator.create(options, origin=browser.ORIGIN)
    signup = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )
    assert signup.status_code == 200, signup.text
    # An OIDC sign-in: code, access, refresh and ID tokens.
    app = oidc.register(client, name="Web app")
    secrets.append(secret_of(app))
    code = oidc.code_for(client, app, None, scope="openid email offline_access")
    tokens = oidc.exchange(client, app, code, None).json()
    secrets += [code, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
    refreshed = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client.client_id, secret_of(app)),
    ).json()
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]
    browser.sign_out(client)
    # A passkey sign-in and a failed one.
    flow, options = browser.login_options(client)
    secrets.append(options["challenge"])
    assert (
        browser.submit_passkey_login(
            client, flow, authenticator.get(options, origin=browser.ORIGIN)
        ).status_code
        == 200
    )
    browser.sign_out(client)
    flow, options = browser.login_options(client)
    secrets.append(options["challenge"])
    other = authenticator.get(options, origin=browser.ORIGIN, challenge_override=secrets[0])
    assert browser.submit_passkey_login(client, flow, other).status_code == 400
    # Passwords: set by the API, a wrong one, a right one, a sign-up.
    user = user_of(client, EMAIL)
    api.ok(api.patch(f"/users/{user.id}", json={"password": PASSWORD}))
    assert browser.login_with_password(client, EMAIL, "a wrong passphrase!").status_code == 401
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    assert browser.signup_with_password(client, "bob@example.com", "bobs own passphrase").status_code == 200
    api.create_user("carol@example.com", password="carols passphrase")
    secrets += [PASSWORD, "a wrong passphrase!", "bobs own passphrase", "carols passphrase"]
    # The management client's own secret and token.
    secrets += [secret_of(api.machine()), api.token()]
    stored_hash = user_of(client, EMAIL).password_hash
    assert stored_hash is not None
    secrets.append(stored_hash)

    everything = json.dumps(all_logs(api))

    assert len(all_logs(api)) > 15
    for secret in secrets:
        assert secret not in everything, secret


# --- filters, paging, checkpoints ---------------------------------------------------------------


def some_history(client: TestClient, api: Api, clock: FrozenClock) -> tuple[str, str]:
    """Ada and Bob sign up (which signs them in) and out, then in and out again, a second
    apart; the management token is minted first. Returns their user ids."""
    api.token()
    clock.advance(seconds=1)
    ada = passkey_signup(client, EMAIL)  # 12:00:01
    clock.advance(seconds=1)
    browser.sign_out(client)  # :02
    clock.advance(seconds=1)
    bob = passkey_signup(client, "bob@example.com")  # :03
    clock.advance(seconds=1)
    browser.sign_out(client)  # :04
    clock.advance(seconds=1)
    assert browser.login_with_passkey(client, ada).status_code == 200  # :05
    clock.advance(seconds=1)
    browser.sign_out(client)  # :06
    clock.advance(seconds=1)
    assert browser.login_with_passkey(client, bob).status_code == 200  # :07
    clock.advance(seconds=1)
    return user_of(client, EMAIL).id, user_of(client, "bob@example.com").id


def timeline(events: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(second, types at that second) in the order given: events of one request share a
    timestamp, and their order among themselves is not defined."""
    grouped: list[tuple[str, list[str]]] = []
    for event in events:
        second = event["date"][11:19]
        if grouped and grouped[-1][0] == second:
            grouped[-1][1].append(event["type"])
            grouped[-1][1].sort()
        else:
            grouped.append((second, [event["type"]]))
    return grouped


def test_filter_by_type(client: TestClient, api: Api, clock: FrozenClock) -> None:
    ada, bob = some_history(client, api, clock)

    sign_ins = api.logs(q="type:s")

    assert [e["user_id"] for e in sign_ins] == [bob, ada, bob, ada]
    assert [e["date"][11:19] for e in sign_ins] == ["12:00:07", "12:00:05", "12:00:03", "12:00:01"]
    either = api.logs(q="type:(s OR ss)")
    assert timeline(either) == [
        ("12:00:07", ["s"]),
        ("12:00:05", ["s"]),
        ("12:00:03", ["s", "ss"]),
        ("12:00:01", ["s", "ss"]),
    ]
    assert api.logs(q="type:gd_enrollment_complete") == []


def test_filter_by_user_id(client: TestClient, api: Api, clock: FrozenClock) -> None:
    ada, _ = some_history(client, api, clock)

    adas = api.logs(q=f'user_id:"{ada}"')

    assert {e["user_id"] for e in adas} == {ada}
    assert timeline(adas) == [
        ("12:00:06", ["slo"]),
        ("12:00:05", ["s"]),
        ("12:00:02", ["slo"]),
        ("12:00:01", ["s", "ss"]),
    ]
    assert [e["date"][11:19] for e in api.logs(q=f'type:s AND user_id:"{ada}"')] == ["12:00:05", "12:00:01"]
    assert api.logs(q='user_id:"nobody"') == []


def test_filter_by_date_range(client: TestClient, api: Api, clock: FrozenClock) -> None:
    api.token()
    passkey_signup(client, EMAIL)  # 2026-11-25
    browser.sign_out(client)
    clock.advance(days=2)
    passkey_signup(client, "bob@example.com")  # 2026-11-27
    api.tokens.clear()  # the first one expired meanwhile
    api.token()

    on_the_25th = api.logs(q="date:[2026-11-25T00:00:00Z TO 2026-11-26T00:00:00Z]")
    since_the_26th = api.logs(q="date:[2026-11-26T00:00:00Z TO *]")

    assert on_the_25th and all(e["date"].startswith("2026-11-25") for e in on_the_25th)
    assert since_the_26th and all(e["date"].startswith("2026-11-27") for e in since_the_26th)
    assert len(on_the_25th) + len(since_the_26th) == len(api.logs())
    assert api.logs(q="date:[2026-11-28T00:00:00Z TO *]") == []
    ss_25 = api.logs(q="type:ss AND date:[2026-11-25T00:00:00Z TO 2026-11-26T00:00:00Z]")
    assert [e["user_name"] for e in ss_25] == [EMAIL]


def test_paging_newest_first_with_totals(client: TestClient, api: Api, clock: FrozenClock) -> None:
    some_history(client, api, clock)
    everything = api.logs(per_page=100)
    log_ids = [e["log_id"] for e in everything]
    assert log_ids == sorted(log_ids, reverse=True)
    dates = [e["date"] for e in everything]
    assert dates == sorted(dates, reverse=True)

    page = api.ok(api.get("/logs", params={"page": 1, "per_page": 3, "include_totals": "true"}))

    assert set(page) == {"start", "limit", "length", "total", "logs"}
    assert (page["start"], page["limit"], page["length"], page["total"]) == (3, 3, 3, len(everything))
    assert page["logs"] == everything[3:6]
    oldest_first = api.ok(api.get("/logs", params={"sort": "date:1", "per_page": 100}))
    assert oldest_first == everything[::-1]
    assert api.ok(api.get("/logs", params={"per_page": 2})) == everything[:2]
    assert api.ok(api.get("/logs", params={"page": 50, "per_page": 100})) == []


def test_checkpoint_paging_reads_on_in_ascending_order(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    some_history(client, api, clock)
    ascending = api.logs(sort="date:1", per_page=100)
    assert len(ascending) >= 6

    after_first = api.ok(api.get("/logs", params={"from": ascending[0]["log_id"], "take": 2}))
    after_those = api.ok(api.get("/logs", params={"from": after_first[-1]["log_id"], "take": 2}))
    to_the_end = api.ok(api.get("/logs", params={"from": ascending[-2]["log_id"], "take": 100}))

    assert after_first == ascending[1:3]
    assert after_those == ascending[3:5]
    assert to_the_end == ascending[-1:]
    assert api.ok(api.get("/logs", params={"from": ascending[-1]["log_id"], "take": 2})) == []
    filtered = api.ok(api.get("/logs", params={"from": ascending[0]["log_id"], "take": 100, "q": "type:s"}))
    assert filtered == [e for e in ascending[1:] if e["type"] == "s"]
    assert len(filtered) == 4


def test_checkpoint_paging_sees_events_written_later(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    api.token()
    passkey_signup(client, EMAIL)
    newest = api.logs(per_page=1)[0]  # the highest log_id so far
    clock.advance(seconds=1)
    browser.sign_out(client)

    later = api.ok(api.get("/logs", params={"from": newest["log_id"], "take": 10}))

    assert [e["type"] for e in later] == ["slo"]


def test_get_one_event(client: TestClient, api: Api) -> None:
    passkey_signup(client)
    listed = api.logs()

    for event in listed:
        assert api.ok(api.get(f"/logs/{event['log_id']}")) == event
    body = assert_error(api.get("/logs/0000000000000ffffffffffffffff"), 404)
    assert "not found" in body["message"].lower()


def test_a_users_logs(client: TestClient, api: Api, clock: FrozenClock) -> None:
    ada, bob = some_history(client, api, clock)

    adas = api.ok(api.get(f"/users/{ada}/logs"))
    page = api.ok(api.get(f"/users/{bob}/logs", params={"per_page": 1, "page": 1, "include_totals": "true"}))

    assert timeline(adas) == [
        ("12:00:06", ["slo"]),
        ("12:00:05", ["s"]),
        ("12:00:02", ["slo"]),
        ("12:00:01", ["s", "ss"]),
    ]
    assert {e["user_id"] for e in adas} == {ada}
    assert api.ok(api.get(f"/users/{ada}/logs", params={"sort": "date:1"})) == adas[::-1]
    assert (page["start"], page["limit"], page["length"], page["total"]) == (1, 1, 1, 4)
    assert page["logs"][0]["type"] == "slo"
    assert api.ok(api.get("/users/nobody/logs")) == []


@pytest.mark.parametrize(
    "q",
    [
        "ada",
        "ip:127.0.0.1",
        "date:[yesterday TO today]",
        "date:2026-11-25",
        "type:",
        'user_name:"ada@example.com"',
        "type:s garbage",
    ],
)
def test_an_unsupported_query_is_400(client: TestClient, api: Api, q: str) -> None:
    assert_error(api.get("/logs", params={"q": q}), 400, "invalid_query_string")


@pytest.mark.parametrize(
    "params",
    [{"per_page": 0}, {"per_page": 101}, {"page": -1}, {"take": 0}, {"take": 101}, {"sort": "type:1"}],
    ids=["per_page=0", "per_page=101", "page=-1", "take=0", "take=101", "sort=type"],
)
def test_bad_paging_parameters_are_400(api: Api, params: dict[str, Any]) -> None:
    assert_error(api.get("/logs", params=params), 400)


# --- writing the log -----------------------------------------------------------------------------
# Events are written in the transaction of what they record, before the response is sent: what
# a response says happened is in the log as soon as it arrives (read here straight from the
# database, without waiting), and a refused change leaves its failure event and nothing else.


def types_of(events: list[Event]) -> list[str]:
    """Event types, sorted: the events of one request share a timestamp, so their order among
    themselves is not defined."""
    return sorted(event.type.value for event in events)


def _stored_events(settings: Settings, clock: FrozenClock) -> list[Event]:
    """The event log as a freshly started app on the same database reads it."""
    with TestClient(create_app(settings, clock=clock), base_url=BASE_URL) as reader:
        return events_of(reader)


def test_each_event_is_stored_by_the_time_its_response_arrives(
    settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}) as first:
        flow, options = browser.signup_options(first, "ada@example.com")
        assert types_of(events_of(first)) == ["passkey_challenge_started"]
        credential = SoftAuthenticator().create(options, origin=browser.ORIGIN)
        signup = first.post(
            f"/signup/flows/{flow.flow_id}",
            json={"method": "passkey", "credential": credential},
            headers=flow.headers,
        )
        assert signup.status_code == 200, signup.text
        assert types_of(events_of(first)) == ["passkey_challenge_started", "s", "ss"]
        browser.sign_out(first)
        in_the_app = events_of(first)
        assert types_of(in_the_app) == ["passkey_challenge_started", "s", "slo", "ss"]
        assert {e.user_name for e in in_the_app} == {"ada@example.com"}

    # Nothing was left in memory for the shutdown to write, and nothing was written twice.
    after = _stored_events(settings, clock)
    assert sorted(e.log_id for e in after) == sorted(e.log_id for e in in_the_app)
    assert len({e.log_id for e in after}) == len(after) == 4


def test_a_management_change_is_in_the_log_when_its_response_arrives(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    api.token()
    before = len(events_of(client, "sapi"))  # the management client's own registration
    clock.advance(seconds=1)

    created = api.post("/users", json={"email": EMAIL, "password": PASSWORD})

    assert created.status_code == 201, created.text
    user_id = created.json()["user_id"]
    *_, event = events_of(client, "sapi")
    assert len(events_of(client, "sapi")) == before + 1
    assert event.details == {
        "operation": "create_user",
        "actor": api.client_id,
        "method": "POST",
        "path": "/api/v2/users",
        "user_id": user_id,
    }
    assert (event.user_id, event.client_id, event.date) == (user_id, api.client_id, clock.now())
    assert user_of(client, EMAIL).id == user_id  # and the change itself, in the same commit

    clock.advance(seconds=1)
    assert api.delete(f"/users/{user_id}").status_code == 204

    *_, deleted = events_of(client, "sapi")
    assert deleted.details["operation"] == "delete_user"
    assert (deleted.user_id, deleted.date) == (user_id, clock.now())
    assert store.get_user(client, user_id) is None
    assert events_of(client, "fapi") == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/users", {"email": EMAIL, "password": PASSWORD}, 409, "auth0_idp_error"),
        ("POST", "/users", {"email": "bob@example.com", "password": "short"}, 400, "password_too_short"),
        ("POST", "/users", {"email": "bob@example.com", "nickname": "bob"}, 400, "invalid_body"),
        ("PATCH", "/users/{ada}", {"email": "BOB@example.com", "name": "Not Bob"}, 409, "email_taken"),
        ("DELETE", "/users/nobody", None, 404, "inexistent_user"),
        ("PATCH", "/connections/con_keyturn", {"options": {"colour": "blue"}}, 400, "invalid_body"),
    ],
    ids=["duplicate", "short-password", "invalid-body", "email-taken", "unknown-user", "bad-option"],
)
def test_a_refused_management_change_stores_its_fapi_and_changes_nothing(
    client: TestClient,
    api: Api,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    error: str,
) -> None:
    ada = api.create_user(EMAIL, password=PASSWORD)
    api.create_user("bob@example.com", password=PASSWORD)
    changes = events_of(client, "sapi")
    before = storage(client)
    url = path.format(ada=ada["user_id"])

    response = api.request(method, url, json=body)

    assert_error(response, status, error)
    assert storage(client) == before
    assert events_of(client, "sapi") == changes  # the refused change recorded no success
    (refusal,) = events_of(client, "fapi")  # stored before the refusal was answered
    assert refusal.details == {"method": method, "path": f"/api/v2{url}", "error": error}
    assert refusal.client_id == api.client_id


def test_an_event_recorded_in_a_write_that_fails_is_not_stored(client: TestClient) -> None:
    """The `sapi` of a change is recorded inside the change's transaction: if the transaction
    fails, neither the change nor its event is stored, while the refusal's own event, recorded
    outside it, is."""
    user_id = new_id()

    async def refused_change(ctx: Context) -> None:
        now = ctx.now()
        user = User(
            id=user_id,
            email=EMAIL,
            user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
            password_hash=None,
            created_at=now,
            updated_at=now,
            name=None,
            email_verified=False,
        )
        try:
            async with ctx.writing() as tx:
                await tx.create_user(user)
                record_change(ctx, CLI, "create_user", user_id=user.id)
                raise Conflict(code="auth0_idp_error")  # after the change and its event
        except Conflict:
            ctx.record(EventType.FAILED_API_OPERATION, details={"error": "auth0_idp_error"})
            raise

    with pytest.raises(Conflict):
        store.in_context(client, refused_change)

    assert store.get_user(client, user_id) is None
    assert store.find_user(client, EMAIL) is None
    assert events_of(client, "sapi") == []
    (refusal,) = events_of(client, "fapi")
    assert refusal.details == {"error": "auth0_idp_error"}
