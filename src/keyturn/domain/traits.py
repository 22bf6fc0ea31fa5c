"""The identity schema: the traits a user has, as a JSON Schema (draft 2020-12), in Ory's manner.

The tenant holds one schema (`/identity_schema`). Each trait is a property of it; Keyturn's
own keywords sit under `x-keyturn` on the trait (Ory puts its own under `ory.sh/kratos`):

    "x-keyturn": {
      "signup": true,            # asked for on sign-up (a `required` trait always is)
      "account": "editable",     # on /account: "hidden" (default), "shown" or "editable"
      "passkey": {"display_name": true},   # the passkey's user.name / displayName
      "oidc": {"claim": "given_name", "scope": "profile"}
    }

`email` is the one trait every schema has (a string of format email, required): it is the
sign-in identifier, kept in its own unique column; every other trait is stored in the
user's `traits` JSON. A trait named like a standard OIDC claim is that claim under its
standard scope unless `x-keyturn.oidc` says otherwise; custom claims must be namespaced
(an http(s) URL, as Auth0 requires) and name the scope that releases them. No I/O here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from keyturn import messages
from keyturn.errors import KeyturnError

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXTENSION = "x-keyturn"
IDENTIFIER = "email"
MAX_TRAITS_BYTES = 16_384  # the traits of one user, as compact JSON
MAX_SCHEMA_BYTES = 65_536

DEFAULT_SCHEMA: dict[str, Any] = {
    "$schema": SCHEMA_DIALECT,
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email", "title": "Email", "maxLength": 320},
    },
    "required": ["email"],
    "additionalProperties": False,
}

# OIDC Core §5.4: the standard claims each scope releases (email's are the identifier's).
STANDARD_CLAIMS: dict[str, str] = {
    **{
        claim: "profile"
        for claim in (
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
        )
    },
    "phone_number": "phone",
    "phone_number_verified": "phone",
    "address": "address",
}
_RESERVED_CLAIMS = frozenset(
    {"sub", "iss", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr", "azp", "sid"}
    | {"email", "email_verified", "updated_at", "at_hash", "c_hash", "scope", "client_id"}
)
FORM_TYPES = frozenset({"string", "number", "integer", "boolean"})
FORM_FORMATS = frozenset({"email", "tel", "uri", "date"})
AccountMode = Literal["hidden", "shown", "editable"]
_TRAIT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEL = re.compile(r"^\+?[0-9][0-9 ().-]{2,30}$")

_FORMAT_MESSAGES = {
    "email": "invalid_traits.format.email",
    "tel": "invalid_traits.format.tel",
    "uri": "invalid_traits.format.uri",
    "date": "invalid_traits.format.date",
}
_INPUT_TYPES = {"email": "email", "tel": "tel", "uri": "url", "date": "date"}
_AUTOCOMPLETE = {  # HTML's autofill tokens for the standard claims
    "name": "name",
    "given_name": "given-name",
    "family_name": "family-name",
    "middle_name": "additional-name",
    "nickname": "nickname",
    "phone_number": "tel",
    "birthdate": "bday",
    "locale": "language",
    "website": "url",
}
_formats = FormatChecker(formats=("email", "date-time", "time", "ipv4", "ipv6", "uuid", "regex"))


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or (bool(date.fromisoformat(value)) and len(value) == 10)


@_formats.checks("tel")
def _is_tel(value: object) -> bool:
    """A phone number as people type one (E.164 with spaces, dots, dashes or brackets)."""
    return not isinstance(value, str) or bool(_TEL.fullmatch(value))


@_formats.checks("uri")
def _is_uri(value: object) -> bool:
    """Only http(s) with a host: a trait is shown back as a link, so never `javascript:`."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname) and " " not in value


@dataclass(frozen=True)
class Trait:
    """One property of the schema, as the pages and the claims see it."""

    name: str
    schema: Mapping[str, Any]
    required: bool
    signup: bool
    account: AccountMode
    claim: str | None
    scope: str | None

    @property
    def type(self) -> str:
        kind = self.schema.get("type", "string")
        return str(kind) if isinstance(kind, str) else "string"

    @property
    def format(self) -> str | None:
        value = self.schema.get("format")
        return str(value) if value in FORM_FORMATS else None

    @property
    def enum(self) -> list[Any] | None:
        values = self.schema.get("enum")
        return list(values) if isinstance(values, list) else None

    @property
    def title(self) -> str:
        return str(self.schema.get("title") or self.name.replace("_", " ").capitalize())

    @property
    def description(self) -> str | None:
        value = self.schema.get("description")
        return str(value) if value else None

    @property
    def input_type(self) -> str:
        """The HTML input for the trait (an enum is a select, a boolean a checkbox)."""
        if self.type in ("number", "integer"):
            return "number"
        return _INPUT_TYPES.get(self.format or "", "text")

    @property
    def autocomplete(self) -> str | None:
        return _AUTOCOMPLETE.get(self.claim or self.name)

    @property
    def max_length(self) -> int | None:
        value = self.schema.get("maxLength")
        return value if isinstance(value, int) else None

    @property
    def on_form(self) -> bool:
        """Whether a page can render it: a scalar type (objects such as `address` are API-only)."""
        return self.type in FORM_TYPES and self.name != IDENTIFIER


class SchemaInvalid(ValueError):
    """The schema is not one Keyturn can hold (the message names why)."""


@dataclass(frozen=True)
class TraitError:
    """A trait that fails the schema: a message id of the catalogue and its parameters."""

    trait: str
    message: str
    params: Mapping[str, object]


def _extension(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    value = prop.get(EXTENSION, {})
    return value if isinstance(value, Mapping) else {}


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise SchemaInvalid unless the schema is valid draft 2020-12 (by its metaschema) and of the
    shape Keyturn needs: an object of named traits, `email` among them and required, at most
    one display-name trait (a string), OIDC claims standard or namespaced."""
    if schema.get("$schema", SCHEMA_DIALECT) != SCHEMA_DIALECT:
        raise SchemaInvalid(f"$schema must be {SCHEMA_DIALECT}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise SchemaInvalid(f"not a valid JSON Schema ({where or 'top'}): {exc.message}") from None
    if len(_compact(schema)) > MAX_SCHEMA_BYTES:
        raise SchemaInvalid(f"the schema is larger than {MAX_SCHEMA_BYTES} bytes")
    remote = _remote_refs(schema)
    if remote:  # nothing is fetched: a sign-up must never wait on another server
        raise SchemaInvalid(f"only local references (#/...) are allowed, not {remote[0]!r}")
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        raise SchemaInvalid('the schema must be {"type": "object", "properties": {...}}')
    properties: Mapping[str, Any] = schema["properties"]
    email = properties.get(IDENTIFIER)
    if not isinstance(email, Mapping) or email.get("type") != "string" or email.get("format") != "email":
        raise SchemaInvalid('the schema must have the trait "email" (a string of format email)')
    if IDENTIFIER not in schema.get("required", []):
        raise SchemaInvalid('the trait "email" must be required')
    display_names = []
    claims: dict[str, str] = {}
    for name, prop in properties.items():
        if not _TRAIT_NAME.match(name):
            raise SchemaInvalid(f"trait {name!r}: names are lower-case letters, digits and _ (up to 64)")
        if not isinstance(prop, Mapping):
            raise SchemaInvalid(f"trait {name!r}: must be a schema object")
        trait = trait_of(name, prop, required=name in schema.get("required", []))
        ext = _extension(prop)
        if ext.get("account", "hidden") not in ("hidden", "shown", "editable"):
            raise SchemaInvalid(f'trait {name!r}: x-keyturn.account is "hidden", "shown" or "editable"')
        if (trait.required or trait.signup or trait.account != "hidden") and not (
            trait.on_form or name == IDENTIFIER
        ):
            raise SchemaInvalid(
                f"trait {name!r}: only string, number, integer and boolean traits go on pages"
            )
        passkey = ext.get("passkey", {})
        if isinstance(passkey, Mapping) and passkey.get("display_name") is True:
            if trait.type != "string":
                raise SchemaInvalid(f"trait {name!r}: a passkey display name must be a string")
            display_names.append(name)
        if trait.claim is not None:
            _check_claim(name, trait.claim, trait.scope)
            if trait.claim in claims:
                raise SchemaInvalid(f"traits {claims[trait.claim]!r} and {name!r} map to one claim")
            claims[trait.claim] = name
    if len(display_names) > 1:
        raise SchemaInvalid(f"only one trait may be the passkey display name, not {display_names}")


def _remote_refs(value: object) -> list[str]:
    if isinstance(value, Mapping):
        found = [
            str(ref)
            for key in ("$ref", "$dynamicRef")
            if isinstance(ref := value.get(key), str) and not ref.startswith("#")
        ]
        return found + [ref for inner in value.values() for ref in _remote_refs(inner)]
    if isinstance(value, list):
        return [ref for inner in value for ref in _remote_refs(inner)]
    return []


def _check_claim(name: str, claim: str, scope: str | None) -> None:
    standard = STANDARD_CLAIMS.get(claim)
    if standard is not None:
        if scope != standard:
            raise SchemaInvalid(f"trait {name!r}: the claim {claim!r} belongs to the scope {standard!r}")
        return
    if claim in _RESERVED_CLAIMS:
        raise SchemaInvalid(f"trait {name!r}: the claim {claim!r} is Keyturn's own")
    parts = urlsplit(claim)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SchemaInvalid(
            f"trait {name!r}: a custom claim must be namespaced, e.g. https://example.com/{name}"
        )
    if not scope or not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope) or scope == "openid":
        raise SchemaInvalid(f"trait {name!r}: a custom claim needs the scope that releases it")


def trait_of(name: str, prop: Mapping[str, Any], *, required: bool) -> Trait:
    ext = _extension(prop)
    oidc = ext.get("oidc")
    claim: str | None = None
    scope: str | None = None
    if isinstance(oidc, Mapping):
        claim = str(oidc["claim"]) if oidc.get("claim") else name
        scope = str(oidc["scope"]) if oidc.get("scope") else STANDARD_CLAIMS.get(claim)
    elif oidc is not False and name in STANDARD_CLAIMS:
        claim, scope = name, STANDARD_CLAIMS[name]
    account = ext.get("account", "hidden")
    return Trait(
        name=name,
        schema=prop,
        required=required,
        signup=required or ext.get("signup") is True,
        account=account if account in ("shown", "editable") else "hidden",
        claim=claim,
        scope=scope,
    )


@dataclass(frozen=True)
class IdentitySchema:
    """A checked schema and what the pages, the passkey and the tokens read from it."""

    document: Mapping[str, Any]

    @property
    def traits(self) -> list[Trait]:
        required = self.document.get("required", [])
        return [
            trait_of(name, prop, required=name in required)
            for name, prop in self.document["properties"].items()
        ]

    def signup_traits(self) -> list[Trait]:
        return [t for t in self.traits if t.signup and t.on_form]

    def account_traits(self) -> list[Trait]:
        return [t for t in self.traits if t.account != "hidden" and t.on_form]

    def editable(self) -> set[str]:
        return {t.name for t in self.traits if t.account == "editable" and t.on_form}

    @property
    def display_name_trait(self) -> str | None:
        for name, prop in self.document["properties"].items():
            passkey = _extension(prop).get("passkey", {})
            if isinstance(passkey, Mapping) and passkey.get("display_name") is True:
                return str(name)
        return None

    def display_name(self, email: str, traits: Mapping[str, Any]) -> str:
        """The passkey's user.name / displayName: the display-name trait, else the email (Ory's
        fallback to the identifier)."""
        name = self.display_name_trait
        value = traits.get(name) if name else None
        return value.strip() if isinstance(value, str) and value.strip() else email

    def errors(self, email: str, traits: Mapping[str, Any]) -> list[TraitError]:
        """What is wrong with these traits (the email included), one error per trait at most."""
        document = {**traits, IDENTIFIER: email}
        validator = Draft202012Validator(self.document, format_checker=_formats)
        found: dict[str, TraitError] = {}
        if IDENTIFIER in traits:  # the email is the user's own field, never a stored trait
            found[IDENTIFIER] = TraitError(IDENTIFIER, "invalid_traits.unknown", {"name": IDENTIFIER})
        for error in validator.iter_errors(document):
            for trait_error in _explain(error, document):
                found.setdefault(trait_error.trait, trait_error)
        size = len(_compact(traits))
        if size > MAX_TRAITS_BYTES:
            found.setdefault("", TraitError("", "invalid_traits.too_large", {"max": MAX_TRAITS_BYTES}))
        return list(found.values())

    def custom_scopes(self) -> frozenset[str]:
        """The scopes that release the schema's custom (namespaced) claims."""
        return frozenset(
            t.scope for t in self.traits if t.claim and t.scope and t.claim not in STANDARD_CLAIMS
        )

    def claims(self, traits: Mapping[str, Any], scope: Iterable[str]) -> dict[str, Any]:
        """The claims the granted scopes release (OIDC Core §5.4), from the traits that have a value."""
        granted = set(scope)
        claims: dict[str, Any] = {}
        for trait in self.traits:
            if trait.claim and trait.scope in granted and traits.get(trait.name) not in (None, ""):
                claims[trait.claim] = traits[trait.name]
        return claims


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class TraitsInvalid(KeyturnError):
    """Traits that fail the identity schema: 400 `invalid_traits`, with a message by trait
    (`fields` in JSON answers; the pages show each under its field). Nothing was stored."""

    code = "invalid_traits"

    def by_trait(self) -> dict[str, str]:
        return {e.trait or "traits": messages.text(e.message, e.params) for e in self.trait_errors}

    def __init__(self, errors: list[TraitError], values: Mapping[str, Any] | None = None) -> None:
        self.trait_errors = errors
        self.field_messages = tuple((e.trait or "traits", e.message, e.params) for e in errors)
        self.values = dict(values or {})  # what was submitted, for a page to show again
        fields = self.by_trait()
        first = next(iter(fields.items()), ("traits", ""))
        super().__init__(extra={"fields": fields}, trait=first[0], text=first[1])


def merge_traits(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A PATCH of traits: each key given replaces that trait, `null` deletes it (the email is
    the user's `email` field, never a trait kept here)."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def require_valid(schema: IdentitySchema, email: str, traits: Mapping[str, Any]) -> None:
    errors = schema.errors(email, traits)
    if errors:
        raise TraitsInvalid(errors, traits)


def from_form(traits: Iterable[Trait], form: Mapping[str, Any]) -> dict[str, Any]:
    """Typed traits from what a page posts (strings, or booleans from its script): blank is
    absent, so `required` speaks; a number that does not parse stays a string, so `type` does."""
    values: dict[str, Any] = {}
    for trait in traits:
        raw = form.get(trait.name)
        if trait.type == "boolean":
            values[trait.name] = raw is True or raw in ("on", "true", "1")
            continue
        if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            continue
        text = str(raw).strip()
        if not text:
            continue
        if trait.type in ("number", "integer"):
            try:
                number = float(text) if trait.type == "number" else int(text)
                values[trait.name] = int(number) if float(number).is_integer() else number
            except ValueError:
                values[trait.name] = text
            continue
        values[trait.name] = text
    return values


def _explain(error: Any, document: Mapping[str, Any]) -> list[TraitError]:
    """A jsonschema error as messages by trait (catalogue ids `invalid_traits.*`)."""
    keyword = error.validator
    if keyword == "required" and not error.path:
        return [
            TraitError(str(name), "invalid_traits.required", {})
            for name in error.validator_value
            if name not in document or document[name] in (None, "")
        ]
    if keyword == "additionalProperties" and not error.path:
        allowed = set(error.schema.get("properties", {}))
        unknown = [name for name in document if name not in allowed]
        return [TraitError(str(name), "invalid_traits.unknown", {"name": name}) for name in unknown]
    trait = str(error.path[0]) if error.path else ""
    if keyword == "format":
        message = _FORMAT_MESSAGES.get(error.validator_value, "invalid_traits.format.other")
        return [TraitError(trait, message, {})]
    if keyword == "enum":
        return [TraitError(trait, "invalid_traits.enum", {})]
    if keyword == "maxLength":
        return [TraitError(trait, "invalid_traits.too_long", {"max": error.validator_value})]
    if keyword == "minLength":
        if error.instance == "":
            return [TraitError(trait, "invalid_traits.required", {})]
        return [TraitError(trait, "invalid_traits.too_short", {"min": error.validator_value})]
    if keyword in ("minimum", "exclusiveMinimum"):
        return [TraitError(trait, "invalid_traits.too_small", {"min": error.validator_value})]
    if keyword in ("maximum", "exclusiveMaximum"):
        return [TraitError(trait, "invalid_traits.too_large_number", {"max": error.validator_value})]
    if keyword == "type":
        return [TraitError(trait, "invalid_traits.type", {})]
    return [TraitError(trait, "invalid_traits.invalid", {})]
