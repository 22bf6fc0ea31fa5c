"""The authorization request, checked one rule at a time (OIDC Core §3.1.2.2, RFC 6749 §4.1.1,
RFC 7636, RFC 8707). `PIPELINE` is the table of checks, in order.

The first two checks (client, redirect URI) fail to an error page: until both are known
good there is nowhere safe to redirect. Every later check fails to a redirect with the
protocol's error code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from keyturn.domain.assurance import ACR_VALUES
from keyturn.domain.oidc import Client
from keyturn.oidc.clients import redirect_uri_matches
from keyturn.oidc.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
    UnregisteredRedirect,
    UnsupportedResponseType,
)

SUPPORTED_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
SUPPORTED_ACR_VALUES = ACR_VALUES
SUPPORTED_PROMPTS = frozenset({"none", "login", "consent", "create", "select_account"})
_PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA256(verifier)), RFC 7636 §4.2
_MAX_PARAM = 2048


@dataclass
class Checked:
    """What the checks have established so far."""

    params: Mapping[str, str]
    client: Client
    redirect_uri: str = ""
    scope: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    code_challenge: str | None = None
    audience: str | None = None
    acr_values: tuple[str, ...] = ()
    acr_essential: bool = False
    repeated: frozenset[str] = frozenset()
    custom_scopes: frozenset[str] = frozenset()  # the identity schema's, releasing custom claims


Check = Callable[[Checked], None]


def check_redirect_uri(checked: Checked) -> None:
    uri = checked.params.get("redirect_uri", "")
    if not uri or not redirect_uri_matches(checked.client.redirect_uris, uri):
        raise UnregisteredRedirect(detail=f"redirect_uri {uri!r} not registered")
    checked.redirect_uri = uri


def check_no_repeats(checked: Checked) -> None:
    """RFC 6749 §3.1: no parameter may appear twice."""
    if checked.repeated:
        raise InvalidRequest(message="invalid_request.repeated", names=", ".join(sorted(checked.repeated)))


def check_lengths(checked: Checked) -> None:
    for name, value in checked.params.items():
        if len(value) > _MAX_PARAM:
            raise InvalidRequest(message="invalid_request.too_long", name=name)


def check_request_objects(checked: Checked) -> None:
    if "request" in checked.params:
        raise InvalidRequest(code="request_not_supported")
    if "request_uri" in checked.params:
        raise InvalidRequest(code="request_uri_not_supported")


def check_response_type(checked: Checked) -> None:
    if checked.params.get("response_type") != "code":
        raise UnsupportedResponseType()
    if checked.params.get("response_mode", "query") != "query":
        raise InvalidRequest(message="invalid_request.response_mode")


def check_client_grant(checked: Checked) -> None:
    if "authorization_code" not in checked.client.grant_types:
        raise UnauthorizedClient()


def check_scope(checked: Checked) -> None:
    scope = tuple(dict.fromkeys(checked.params.get("scope", "").split()))
    unknown = [s for s in scope if s not in SUPPORTED_SCOPES and s not in checked.custom_scopes]
    if unknown:
        raise InvalidScope(message="invalid_scope.unknown", scopes=" ".join(unknown))
    if "openid" not in scope:
        raise InvalidScope(message="invalid_scope.openid_required")
    if "offline_access" in scope and "refresh_token" not in checked.client.grant_types:
        scope = tuple(s for s in scope if s != "offline_access")  # OIDC §11: ignore, do not fail
    checked.scope = scope


def check_pkce(checked: Checked) -> None:
    """S256 only; required for public clients, accepted for confidential ones; `plain` refused."""
    challenge = checked.params.get("code_challenge")
    method = checked.params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise InvalidRequest(message="invalid_request.pkce_method_alone")
        if checked.client.is_public:
            raise InvalidRequest(message="invalid_request.pkce_required")
        return
    if method != "S256":
        raise InvalidRequest(message="invalid_request.pkce_s256_only")
    if not _PKCE_CHALLENGE.match(challenge):
        raise InvalidRequest(message="invalid_request.pkce_challenge_format")
    checked.code_challenge = challenge


def check_prompt(checked: Checked) -> None:
    prompt = tuple(checked.params.get("prompt", "").split())
    if not set(prompt) <= SUPPORTED_PROMPTS:
        raise InvalidRequest(message="invalid_request.prompt_unsupported", prompt=" ".join(prompt))
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest(message="invalid_request.prompt_none_alone")
    checked.prompt = prompt


def check_max_age(checked: Checked) -> None:
    raw = checked.params.get("max_age")
    if raw is None:
        return
    if not raw.isdigit():
        raise InvalidRequest(message="invalid_request.max_age")
    checked.max_age = int(raw)


def check_audience(checked: Checked) -> None:
    """Auth0's `audience` or RFC 8707 `resource`: an API this client is registered for."""
    audience = checked.params.get("audience") or checked.params.get("resource")
    if audience is not None and audience not in checked.client.audiences:
        raise InvalidTarget()
    checked.audience = audience


def _asked_acr(claims: str) -> tuple[tuple[str, ...], bool]:
    """The `acr` member of the `claims` parameter's id_token object (OIDC Core §5.5.1.1): the
    levels it names (`value` or `values`) and whether they are essential. Other claims asked
    for are ignored (§5.5: a provider need not return them)."""
    try:
        parsed = json.loads(claims)
    except ValueError as exc:
        raise InvalidRequest(message="invalid_request.claims") from exc
    id_token = parsed.get("id_token") if isinstance(parsed, dict) else None
    if not isinstance(parsed, dict) or not isinstance(id_token, dict | None):
        raise InvalidRequest(message="invalid_request.claims")
    acr = (id_token or {}).get("acr")
    if acr is None:
        return (), False
    if not isinstance(acr, dict):
        raise InvalidRequest(message="invalid_request.claims")
    values = acr.get("values", [acr["value"]] if "value" in acr else [])
    essential = acr.get("essential", False)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest(message="invalid_request.claims")
    if not isinstance(essential, bool):
        raise InvalidRequest(message="invalid_request.claims")
    return tuple(values), essential


def check_acr(checked: Checked) -> None:
    """The levels asked for, in the order asked: by the `acr` claim of `claims` when it names
    some (essential if it says so), else by `acr_values` (voluntary, OIDC Core §3.1.2.1).
    Levels Keyturn does not know are kept: a voluntary one is simply never met, an essential
    one fails the authorization once the user has had the chance to step up."""
    asked = tuple(checked.params.get("acr_values", "").split())
    essential = False
    if "claims" in checked.params:
        claimed, essential = _asked_acr(checked.params["claims"])
        asked = claimed or asked
    checked.acr_values = tuple(dict.fromkeys(asked))
    checked.acr_essential = essential and bool(asked)


PIPELINE: tuple[Check, ...] = (
    check_redirect_uri,
    check_no_repeats,
    check_lengths,
    check_request_objects,
    check_response_type,
    check_client_grant,
    check_scope,
    check_pkce,
    check_prompt,
    check_max_age,
    check_audience,
    check_acr,
)


def run_checks(
    params: Mapping[str, str],
    client: Client | None,
    *,
    repeated: frozenset[str] = frozenset(),
    custom_scopes: frozenset[str] = frozenset(),
) -> Checked:
    """Run the pipeline; raises UnregisteredRedirect (error page) or an OAuthError (redirect)."""
    if client is None or {"client_id", "redirect_uri"} & repeated:
        raise UnregisteredRedirect(detail=f"unknown or repeated client_id {params.get('client_id')!r}")
    checked = Checked(params=params, client=client, repeated=repeated, custom_scopes=custom_scopes)
    for check in PIPELINE:
        check(checked)
    return checked
