"""/api/v2 and the identity schema: `traits` validated on POST and PATCH /users, Auth0's
`user_metadata` / `app_metadata` semantics, and a schema change through PATCH /connections
refused while existing users would fail it."""

from __future__ import annotations

import copy
from typing import Any

from starlette.testclient import TestClient

from keyturn.domain.traits import DEFAULT_SCHEMA
from tests.management.conftest import PASSWORD, Api, assert_error
from tests.support import store
from tests.support.browser import storage

CONNECTION = "/connections/con_keyturn"
NAME = {"type": "string", "minLength": 1, "x-keyturn": {"account": "editable"}}


def schema_with(required: tuple[str, ...] = (), **traits: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEFAULT_SCHEMA)
    document["properties"].update(traits)
    document["required"] = ["email", *required]
    return document


OPTIONAL_NAME = schema_with(name=NAME, plan={"type": "string", "enum": ["free", "pro"]})
REQUIRED_NAME = schema_with(("name",), name=NAME, plan={"type": "string", "enum": ["free", "pro"]})


def use_schema(client: TestClient, document: dict[str, Any]) -> None:
    store.set_tenant(client, "/identity_schema", document)


# --- traits -------------------------------------------------------------------------------


def test_create_with_traits_and_metadata(client: TestClient, api: Api) -> None:
    use_schema(client, REQUIRED_NAME)

    user = api.create_user(
        "ada@example.com",
        password=PASSWORD,
        traits={"name": "Ada", "plan": "pro"},
        user_metadata={"theme": "dark"},
        app_metadata={"roles": ["admin"]},
    )

    assert user["traits"] == {"name": "Ada", "plan": "pro"}
    assert user["user_metadata"] == {"theme": "dark"}
    assert user["app_metadata"] == {"roles": ["admin"]}
    assert api.ok(api.get(f"/users/{user['user_id']}"))["traits"] == {"name": "Ada", "plan": "pro"}


def test_create_with_invalid_traits_is_400_and_stores_nothing(client: TestClient, api: Api) -> None:
    use_schema(client, REQUIRED_NAME)
    api.token()
    before = storage(client)

    for traits in ({}, {"name": "Ada", "plan": "gold"}, {"name": "Ada", "pet": "cat"}):
        response = api.post(
            "/users", json={"email": "ada@example.com", "password": PASSWORD, "traits": traits}
        )
        refusal = assert_error(response, 400, "invalid_traits")
        assert "Check" in refusal["message"]

    assert storage(client) == before


def test_patch_merges_traits_and_null_deletes_one(client: TestClient, api: Api) -> None:
    use_schema(client, OPTIONAL_NAME)
    ada = api.create_user("ada@example.com", password=PASSWORD, traits={"name": "Ada", "plan": "free"})

    patched = api.ok(api.patch(f"/users/{ada['user_id']}", json={"traits": {"plan": "pro"}}))
    assert patched["traits"] == {"name": "Ada", "plan": "pro"}

    patched = api.ok(api.patch(f"/users/{ada['user_id']}", json={"traits": {"name": None}}))
    assert patched["traits"] == {"plan": "pro"}


def test_patch_that_would_break_the_schema_is_400_and_changes_nothing(client: TestClient, api: Api) -> None:
    use_schema(client, REQUIRED_NAME)
    ada = api.create_user("ada@example.com", password=PASSWORD, traits={"name": "Ada"})
    api.token()
    before = storage(client)

    for patch in (
        {"traits": {"name": None}},
        {"traits": {"plan": "gold"}, "user_metadata": {"theme": "dark"}},
        {"traits": {"name": "Ada King"}, "app_metadata": {"a.b": 1}},
    ):
        assert_error(api.patch(f"/users/{ada['user_id']}", json=patch), 400)

    assert storage(client) == before


# --- user_metadata and app_metadata -----------------------------------------------------


def test_metadata_patch_merges_at_the_top_level_null_deletes_and_empty_clears(api: Api) -> None:
    ada = api.create_user(
        "ada@example.com",
        password=PASSWORD,
        user_metadata={"theme": "dark", "prefs": {"a": 1, "b": 2}},
        app_metadata={"plan": "pro", "roles": ["admin"]},
    )
    path = f"/users/{ada['user_id']}"

    merged = api.ok(api.patch(path, json={"user_metadata": {"prefs": {"a": 3}, "lang": "fr"}}))
    assert merged["user_metadata"] == {"theme": "dark", "prefs": {"a": 3}, "lang": "fr"}  # top level only
    assert merged["app_metadata"] == {"plan": "pro", "roles": ["admin"]}  # untouched

    deleted = api.ok(api.patch(path, json={"user_metadata": {"theme": None}, "app_metadata": {"plan": None}}))
    assert deleted["user_metadata"] == {"prefs": {"a": 3}, "lang": "fr"}
    assert deleted["app_metadata"] == {"roles": ["admin"]}

    cleared = api.ok(api.patch(path, json={"app_metadata": {}}))
    assert cleared["app_metadata"] == {}
    assert api.ok(api.get(path))["user_metadata"] == {"prefs": {"a": 3}, "lang": "fr"}


def test_metadata_too_large_is_400_and_changes_nothing(client: TestClient, api: Api) -> None:
    ada = api.create_user("ada@example.com", password=PASSWORD, user_metadata={"theme": "dark"})
    api.token()
    before = storage(client)

    body = assert_error(
        api.patch(f"/users/{ada['user_id']}", json={"user_metadata": {"notes": "x" * 20_000}}),
        400,
        "invalid_body",
    )

    assert "user_metadata" in body["message"]
    assert storage(client) == before


# --- schema changes through the connection ------------------------------------------------


def test_a_schema_change_that_breaks_users_is_409_saying_how_many_and_which_trait(
    client: TestClient, api: Api
) -> None:
    use_schema(client, OPTIONAL_NAME)
    api.create_user("ada@example.com", password=PASSWORD, traits={"name": "Ada"})
    api.create_user("bob@example.com", password=PASSWORD)
    api.create_user("cy@example.com", password=PASSWORD, traits={"plan": "pro"})
    before_connection = api.ok(api.get(CONNECTION))
    before = storage(client)

    response = api.patch(CONNECTION, json={"options": {"identity_schema": REQUIRED_NAME}})

    body = assert_error(response, 409, "schema_change_breaks_users")
    assert "2 users invalid" in body["message"]
    assert "trait 'name'" in body["message"]
    assert "keyturn users validate" in body["message"]
    assert storage(client) == before
    assert api.ok(api.get(CONNECTION)) == before_connection


def test_force_saves_a_schema_that_breaks_users(client: TestClient, api: Api) -> None:
    use_schema(client, OPTIONAL_NAME)
    api.create_user("bob@example.com", password=PASSWORD)

    body = api.ok(
        api.patch(CONNECTION, params={"force": "true"}, json={"options": {"identity_schema": REQUIRED_NAME}})
    )

    assert body["options"]["identity_schema"]["required"] == ["email", "name"]


def test_the_schema_is_replaced_whole_so_a_trait_can_be_removed(client: TestClient, api: Api) -> None:
    use_schema(client, OPTIONAL_NAME)

    body = api.ok(api.patch(CONNECTION, json={"options": {"identity_schema": schema_with(name=NAME)}}))

    assert set(body["options"]["identity_schema"]["properties"]) == {"email", "name"}


def test_an_invalid_schema_is_400_and_changes_nothing(client: TestClient, api: Api) -> None:
    before = api.ok(api.get(CONNECTION))

    response = api.patch(
        CONNECTION, json={"options": {"identity_schema": schema_with(name={"type": "strng"})}}
    )

    body = assert_error(response, 400, "invalid_body")
    assert "identity_schema" in body["message"]
    assert api.ok(api.get(CONNECTION)) == before
