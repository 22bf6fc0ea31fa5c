"""The identity schema as the tenant settings hold it: checked by the draft 2020-12 metaschema
and Keyturn's own rules when set, and what it says about traits, passkey names and claims."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from keyturn.domain import metadata
from keyturn.domain.tenant import TenantSettings
from keyturn.domain.traits import DEFAULT_SCHEMA, IdentitySchema, from_form
from keyturn.errors import KeyturnError


def schema(**traits: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEFAULT_SCHEMA)
    document["properties"].update(traits)
    return document


def refused(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        TenantSettings(identity_schema=document)
    return str(caught.value)


def test_the_default_schema_is_todays_email_only() -> None:
    identity = TenantSettings().identity

    assert [t.name for t in identity.traits] == ["email"]
    assert identity.signup_traits() == []
    assert identity.errors("ada@example.com", {}) == []
    assert identity.display_name("ada@example.com", {}) == "ada@example.com"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (schema(name={"type": "strng"}), "not a valid JSON Schema (properties/name/type)"),
        (schema(name={"minLength": -1}), "not a valid JSON Schema"),
        ({**schema(), "$schema": "http://json-schema.org/draft-07/schema#"}, "$schema must be"),
        ({"type": "object", "properties": {"name": {"type": "string"}}}, 'the trait "email"'),
        ({**schema(), "required": []}, '"email" must be required'),
        (schema(Name={"type": "string"}), "names are lower-case"),
        (
            schema(
                a={"type": "string", "x-keyturn": {"passkey": {"display_name": True}}},
                b={"type": "string", "x-keyturn": {"passkey": {"display_name": True}}},
            ),
            "only one trait may be the passkey display name",
        ),
        (
            schema(age={"type": "integer", "x-keyturn": {"passkey": {"display_name": True}}}),
            "must be a string",
        ),
        (schema(address={"type": "object", "x-keyturn": {"signup": True}}), "go on pages"),
        (schema(dept={"type": "string", "x-keyturn": {"oidc": {"claim": "dept"}}}), "namespaced"),
        (
            schema(dept={"type": "string", "x-keyturn": {"oidc": {"claim": "https://example.com/d"}}}),
            "needs the scope",
        ),
        (schema(nick={"type": "string", "x-keyturn": {"oidc": {"claim": "sub"}}}), "Keyturn's own"),
        (
            schema(nick={"type": "string", "x-keyturn": {"oidc": {"claim": "name", "scope": "org"}}}),
            "belongs to the scope 'profile'",
        ),
        (schema(name={"type": "string", "x-keyturn": {"account": "sometimes"}}), "x-keyturn.account"),
        (schema(name={"$ref": "https://example.com/name.json"}), "only local references"),
        (schema(name={"type": "string", "description": "x" * 70_000}), "larger than"),
    ],
    ids=[
        "bad-type",
        "bad-keyword-value",
        "other-dialect",
        "no-email",
        "email-optional",
        "bad-trait-name",
        "two-display-names",
        "display-name-not-string",
        "object-on-a-page",
        "custom-claim-not-namespaced",
        "custom-claim-without-scope",
        "reserved-claim",
        "standard-claim-wrong-scope",
        "bad-account-mode",
        "remote-ref",
        "too-large",
    ],
)
def test_a_schema_keyturn_cannot_hold_is_refused_with_the_reason(
    document: dict[str, Any], reason: str
) -> None:
    assert reason in refused(document)


def test_traits_are_checked_with_their_formats() -> None:
    identity = IdentitySchema(
        schema(
            phone_number={"type": "string", "format": "tel"},
            website={"type": "string", "format": "uri"},
            birthdate={"type": "string", "format": "date"},
            age={"type": "integer", "minimum": 0},
        )
    )
    good = {"phone_number": "+1 (555) 010-9999", "website": "https://ada.example", "birthdate": "1815-12-10"}
    bad = {"phone_number": "tel me", "website": "javascript:alert(1)", "birthdate": "10/12/1815", "age": -1}

    assert identity.errors("ada@example.com", good) == []
    assert {e.trait: e.message for e in identity.errors("not-an-email", bad)} == {
        "email": "invalid_traits.format.email",
        "phone_number": "invalid_traits.format.tel",
        "website": "invalid_traits.format.uri",
        "birthdate": "invalid_traits.format.date",
        "age": "invalid_traits.too_small",
    }


def test_unknown_traits_and_an_email_trait_are_refused() -> None:
    identity = IdentitySchema(schema())

    errors = {e.trait: e.message for e in identity.errors("ada@example.com", {"email": "x", "pet": "cat"})}

    assert errors == {"email": "invalid_traits.unknown", "pet": "invalid_traits.unknown"}


def test_form_values_are_typed_by_the_schema() -> None:
    identity = IdentitySchema(
        schema(
            name={"type": "string", "x-keyturn": {"signup": True}},
            age={"type": "integer", "x-keyturn": {"signup": True}},
            ratio={"type": "number", "x-keyturn": {"signup": True}},
            news={"type": "boolean", "x-keyturn": {"signup": True}},
        )
    )
    posted = {"name": "  Ada ", "age": "36", "ratio": "0.5", "news": "true", "extra": "dropped"}

    assert from_form(identity.signup_traits(), posted) == {
        "name": "Ada",
        "age": 36,
        "ratio": 0.5,
        "news": True,
    }
    assert from_form(identity.signup_traits(), {"age": "old", "name": ""}) == {"age": "old", "news": False}


def test_claims_by_scope() -> None:
    identity = IdentitySchema(
        schema(
            name={"type": "string"},
            given_name={"type": "string", "x-keyturn": {"oidc": False}},
            phone_number={"type": "string"},
            team={
                "type": "string",
                "x-keyturn": {"oidc": {"claim": "https://example.com/team", "scope": "org"}},
            },
        )
    )
    traits = {"name": "Ada", "given_name": "Ada", "phone_number": "+44 20", "team": "Engines"}

    assert identity.claims(traits, ["openid"]) == {}
    assert identity.claims(traits, ["openid", "profile"]) == {"name": "Ada"}
    assert identity.claims(traits, ["phone", "org"]) == {
        "phone_number": "+44 20",
        "https://example.com/team": "Engines",
    }
    assert identity.custom_scopes() == {"org"}


def test_metadata_merges_at_the_top_level_and_null_deletes() -> None:
    current = {"theme": "dark", "prefs": {"a": 1, "b": 2}, "lang": "en"}

    merged = metadata.merged("user_metadata", current, {"prefs": {"a": 3}, "lang": None, "new": True})

    assert merged == {"theme": "dark", "prefs": {"a": 3}, "new": True}
    assert metadata.merged("user_metadata", current, {}) == {}


@pytest.mark.parametrize(
    "value",
    [{"a.b": 1}, {"$set": 1}, {"deep": {"x.y": 1}}, {"big": "x" * 20_000}, ["not", "an", "object"]],
    ids=["dot", "dollar", "nested-dot", "too-large", "not-an-object"],
)
def test_metadata_refuses_what_auth0_refuses(value: Any) -> None:
    with pytest.raises(KeyturnError) as caught:
        metadata.merged("app_metadata", {}, value)
    assert caught.value.code == "invalid_body"
    assert "app_metadata" in caught.value.description
