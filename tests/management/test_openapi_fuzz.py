"""The /api/v2 OpenAPI document, and the API fuzzed against it with schemathesis.

Every operation gets requests generated from its own schema (valid ones, and invalid ones
that must be refused), sent with a token holding every management scope through the
test's app (so its lifespan, database and event loop are the test's), and each response
is checked: never a 5xx, a documented status code, a documented content type, a body that
matches the documented schema. Path parameters are sometimes real ids (a user with a
password and a passkey, its passkey, the connection, a log event, a hook), so the
operations get past their 404s. Bounded and derandomized: the same examples every run.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from keyturn.management.app import create_management_app
from tests.management.conftest import API, PASSWORD, Api, assert_error
from tests.support import browser
from tests.support.soft_authenticator import SoftAuthenticator

BASE_URL = "http://localhost:8000" + API
MAX_EXAMPLES = 30
# The document as the app serves it, built without starting the app (for collection).
DOCUMENT: dict[str, Any] = create_management_app().openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
_BY_LABEL = {
    result.ok().label: result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)
}
# Test ids are the operation ids (`users-list`), which `-k` can select.
OPERATIONS = {
    operation["operationId"]: _BY_LABEL[f"{method.upper()} {path}"]
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
}
# Invalid requests need something to make invalid: a body or a query parameter (any string
# is a valid path segment, so an operation with only path parameters has no invalid form).
NEGATABLE = sorted(
    operation["operationId"]
    for methods in DOCUMENT["paths"].values()
    for operation in methods.values()
    if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_PATH_PARAMETER = re.compile(r"{(\w+)}")
_UNROUTABLE = re.compile(r"\n")  # Starlette's mount pattern (.*) stops at a newline

EXPECTED_OPERATIONS = {
    ("get", "/users"): "users-list",
    ("post", "/users"): "users-create",
    ("get", "/users-by-email"): "users-by-email",
    ("get", "/users/{user_id}"): "users-get",
    ("patch", "/users/{user_id}"): "users-update",
    ("delete", "/users/{user_id}"): "users-delete",
    ("get", "/users/{user_id}/logs"): "users-logs",
    ("get", "/users/{user_id}/sessions"): "users-sessions-list",
    ("delete", "/users/{user_id}/sessions"): "users-sessions-delete",
    ("post", "/users/{user_id}/revoke-access"): "users-revoke-access",
    ("get", "/sessions/{session_id}"): "sessions-get",
    ("delete", "/sessions/{session_id}"): "sessions-delete",
    ("post", "/sessions/{session_id}/revoke"): "sessions-revoke",
    ("get", "/connections"): "connections-list",
    ("post", "/connections"): "connections-create",
    ("get", "/connections/{connection_id}"): "connections-get",
    ("patch", "/connections/{connection_id}"): "connections-update",
    ("get", "/logs"): "logs-list",
    ("get", "/logs/{log_id}"): "logs-get",
    ("get", "/hooks"): "hooks-list",
    ("post", "/hooks"): "hooks-create",
    ("delete", "/hooks/{hook_id}"): "hooks-delete",
    ("get", "/user-blocks"): "user-blocks-list-by-identifier",
    ("delete", "/user-blocks"): "user-blocks-delete-by-identifier",
    ("get", "/user-blocks/{user_id}"): "user-blocks-list",
    ("delete", "/user-blocks/{user_id}"): "user-blocks-delete",
    ("get", "/attack-protection/brute-force-protection"): "attack-protection-get-brute-force",
    ("patch", "/attack-protection/brute-force-protection"): "attack-protection-update-brute-force",
    ("get", "/attack-protection/suspicious-ip-throttling"): "attack-protection-get-suspicious-ip-throttling",
    ("patch", "/attack-protection/suspicious-ip-throttling"): (
        "attack-protection-update-suspicious-ip-throttling"
    ),
    ("get", "/attack-protection/breached-password-detection"): (
        "attack-protection-get-breached-password-detection"
    ),
    ("patch", "/attack-protection/breached-password-detection"): (
        "attack-protection-update-breached-password-detection"
    ),
}
for _base, _suffix in (
    ("/users/{user_id}/authentication-methods", ""),
    ("/users/{user_id}/authentication_methods", "-legacy"),
):
    EXPECTED_OPERATIONS |= {
        ("get", _base): f"authentication-methods-list{_suffix}",
        ("delete", _base): f"authentication-methods-delete-all{_suffix}",
        ("get", _base + "/{authentication_method_id}"): f"authentication-methods-get{_suffix}",
        ("patch", _base + "/{authentication_method_id}"): f"authentication-methods-update{_suffix}",
        ("delete", _base + "/{authentication_method_id}"): f"authentication-methods-delete{_suffix}",
    }


# --- the document -----------------------------------------------------------------------------


def test_openapi_document_is_served_as_openapi_3_1(client: TestClient) -> None:
    response = client.get(API + "/openapi.json")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    served = response.json()
    assert served["openapi"].startswith("3.1.")
    assert served["info"]["title"]
    assert served["paths"] == DOCUMENT["paths"]  # what the fuzzer reads is what the app serves


def test_openapi_document_lists_every_management_operation(client: TestClient) -> None:
    served = client.get(API + "/openapi.json").json()

    listed = {
        (method, path): operation["operationId"]
        for path, methods in served["paths"].items()
        for method, operation in methods.items()
    }
    assert listed == EXPECTED_OPERATIONS


def test_openapi_document_needs_no_token_but_the_api_does(client: TestClient) -> None:
    assert client.get(API + "/openapi.json").status_code == 200
    assert client.get(API + "/users").status_code == 401


def test_every_operation_documents_auth0_errors(client: TestClient) -> None:
    served = client.get(API + "/openapi.json").json()
    error_ref = "#/components/schemas/ErrorOut"
    for path, methods in served["paths"].items():
        for method, operation in methods.items():
            for status in ("401", "403"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": error_ref}, (method, path, status)
    error = served["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"statusCode", "error", "message", "errorCode"}


def test_the_document_promises_the_400_the_api_sends_not_422(client: TestClient) -> None:
    """Invalid input is answered 400 in Auth0's shape (errors.validation_error), so every
    operation that takes a body or query parameters documents 400 (with ErrorOut), and none
    documents FastAPI's 422 HTTPValidationError, which the API never sends."""
    served = client.get(API + "/openapi.json").json()
    wrong = []
    for path, methods in served["paths"].items():
        for method, operation in methods.items():
            takes_input = "requestBody" in operation or any(
                p["in"] == "query" for p in operation.get("parameters", [])
            )
            if "422" in operation["responses"]:
                wrong.append(f"{method.upper()} {path}: documents 422")
            if takes_input and "400" not in operation["responses"]:
                wrong.append(f"{method.upper()} {path}: does not document 400")

    assert wrong == []


@pytest.mark.parametrize(
    "path",
    [
        "/users/a%0Ab",
        "/users/a%0Ab/authentication-methods",
        "/logs/%0A",
        "/nowhere",
        "/users/ada/nowhere",
    ],
)
def test_paths_that_match_no_operation_answer_in_auth0_shape(client: TestClient, api: Api, path: str) -> None:
    """Everything under /api/v2 answers Auth0's error body, even a path no route matches (a
    segment with a newline does not even match the /api/v2 mount)."""
    response = api.get(path)

    assert response.status_code == 404, response.text
    assert_error(response, 404)


def test_an_unsupported_method_answers_in_auth0_shape(api: Api) -> None:
    response = api.request("PUT", "/users")

    assert response.status_code == 405, response.text
    assert_error(response, 405)


# --- fuzzing ---------------------------------------------------------------------------------


def _seed(client: TestClient, api: Api) -> dict[str, str]:
    """Real ids for path parameters: a user with a password and a passkey, and the rest."""
    authenticator = SoftAuthenticator()
    assert browser.signup_with_passkey(client, authenticator, "ada@example.com").status_code == 200
    browser.sign_out(client)
    user = api.get("/users", params={"q": 'email:"ada@example.com"'}).json()[0]
    api.ok(api.patch(f"/users/{user['user_id']}", json={"password": PASSWORD}))
    assert browser.login_with_password(client, "ada@example.com", PASSWORD).status_code == 200
    client.cookies.clear()  # the session lives on, for the fuzzer to look up and end
    (session,) = api.ok(api.get(f"/users/{user['user_id']}/sessions"))["sessions"]
    methods = api.ok(api.get(f"/users/{user['user_id']}/authentication-methods"))
    passkey = next(m for m in methods if m["type"] == "passkey")
    hook = api.ok(api.post("/hooks", json={"url": "https://hooks.example/post-login"}), 201)
    log = api.ok(api.get("/logs", params={"per_page": 1}))[0]
    return {
        "user_id": user["user_id"],
        "authentication_method_id": passkey["id"],
        "connection_id": "con_keyturn",
        "log_id": log["log_id"],
        "hook_id": hook["id"],
        "session_id": session["id"],
    }


def _send(client: TestClient, case: Case[Any], token: str) -> Any:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {**kwargs.get("headers", {}), "authorization": f"Bearer {token}"}
    content = kwargs.get("data")
    if isinstance(content, str):
        content = content.encode()
    return client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        content=content,
        cookies=kwargs.get("cookies") or None,
    )


def _routable(case: Case[Any]) -> bool:
    """Path parameters without a newline: a segment holding one (%0A) never reaches the /api/v2
    app at all (test_paths_that_match_no_operation_answer_in_auth0_shape covers those)."""
    values = (case.path_parameters or {}).values()  # already percent-encoded
    return not any(_UNROUTABLE.search(unquote(str(value))) for value in values)


def _strategy(
    operation_id: str, mode: GenerationMode, real_ids: dict[str, str]
) -> st.SearchStrategy[Case[Any]]:
    operation = OPERATIONS[operation_id]
    generated = operation.as_strategy(generation_mode=mode).filter(_routable)
    names = _PATH_PARAMETER.findall(operation.path)
    if not names:
        return generated
    with_real_ids = operation.as_strategy(
        generation_mode=mode, path_parameters={name: real_ids[name] for name in names}
    )
    return st.one_of(generated, with_real_ids)


def _fuzz(client: TestClient, api: Api, operation_id: str, mode: GenerationMode) -> None:
    real_ids = _seed(client, api)
    token = api.token()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation_id, mode, real_ids))
    def fuzz(case: Case[Any]) -> None:
        response = _send(client, case, token)
        case.validate_response(response, checks=CHECKS)

    fuzz()


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_fuzz_valid_requests(client: TestClient, api: Api, operation_id: str) -> None:
    """Requests that match the schema: never a 5xx, always a documented answer."""
    _fuzz(client, api, operation_id, GenerationMode.POSITIVE)


@pytest.mark.parametrize("operation_id", NEGATABLE)
def test_fuzz_invalid_requests(client: TestClient, api: Api, operation_id: str) -> None:
    """Requests that break the schema: refused with a documented 4xx in Auth0's shape, never a 5xx."""
    _fuzz(client, api, operation_id, GenerationMode.NEGATIVE)
