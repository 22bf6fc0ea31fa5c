"""A minimal web app that signs its users in with Keyturn over OpenID Connect.

It has no WebAuthn code at all: Authlib fetches Keyturn's discovery document and JWKS,
runs the authorization-code flow with PKCE, and validates the ID token itself.

    keyturn clients create --name "Example app" --redirect-uri http://localhost:9000/callback \\
        --post-logout-redirect-uri http://localhost:9000/ --first-party --json
    EXAMPLE_CLIENT_ID=… EXAMPLE_CLIENT_SECRET=… python examples/oidc_client/app.py
"""

from __future__ import annotations

import html
import json
import os
import secrets

import uvicorn
from authlib.integrations.starlette_client import OAuth
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

ISSUER = os.environ.get("KEYTURN_ISSUER", "http://localhost:8000")
PORT = int(os.environ.get("EXAMPLE_PORT", "9000"))
BASE = f"http://localhost:{PORT}"

oauth = OAuth()
oauth.register(
    "keyturn",
    client_id=os.environ.get("EXAMPLE_CLIENT_ID", ""),
    client_secret=os.environ.get("EXAMPLE_CLIENT_SECRET") or None,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
)


async def home(request: Request) -> Response:
    user = request.session.get("user")
    if not user:
        return HTMLResponse(
            '<h1>Example app</h1><p><a id="sign-in" href="/login">Sign in with Keyturn</a></p>'
        )
    claims = html.escape(json.dumps(user, indent=2))
    return HTMLResponse(
        f'<h1>Signed in</h1><p id="email">{html.escape(str(user.get("email")))}</p>'
        f'<pre id="claims">{claims}</pre><p><a id="sign-out" href="/logout">Sign out</a></p>'
    )


async def login(request: Request) -> Response:
    extra = {
        k: v
        for k, v in request.query_params.items()
        if k in ("prompt", "max_age", "login_hint", "acr_values")
    }
    return await oauth.keyturn.authorize_redirect(request, f"{BASE}/callback", **extra)  # type: ignore[no-any-return]


async def callback(request: Request) -> Response:
    if "error" in request.query_params:
        error = html.escape(request.query_params["error"])
        return HTMLResponse(f'<h1>Sign-in failed</h1><p id="error">{error}</p>', status_code=400)
    token = await oauth.keyturn.authorize_access_token(
        request
    )  # validates the ID token (iss, aud, nonce, signature)
    request.session["user"] = dict(token["userinfo"])
    request.session["id_token"] = token["id_token"]
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    id_token = request.session.pop("id_token", None)
    request.session.pop("user", None)
    metadata = await oauth.keyturn.load_server_metadata()
    query = f"post_logout_redirect_uri={BASE}/&client_id={oauth.keyturn.client_id}"
    if id_token:
        query += f"&id_token_hint={id_token}"
    return RedirectResponse(f"{metadata['end_session_endpoint']}?{query}", status_code=303)


app = Starlette(
    routes=[Route("/", home), Route("/login", login), Route("/callback", callback), Route("/logout", logout)],
    middleware=[
        Middleware(
            SessionMiddleware, secret_key=os.environ.get("EXAMPLE_SESSION_SECRET", secrets.token_hex(32))
        )
    ],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
