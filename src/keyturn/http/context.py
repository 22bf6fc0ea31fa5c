"""One `Context` per request: opened before the route runs, finished before it answers.

`ContextRoute` is the route class of every router that touches the database. It opens the
request's unit of work, runs the endpoint, and stores what is left (the events of a
refusal, a spent challenge) before the response leaves, so nothing answered is still in
memory. Routes read it through `ContextDep`.

`ForwardedHeaders` (the outermost middleware) decides who the client is: the connecting peer,
unless that peer is one of `trusted_proxies`; then the rightmost hop of `Forwarded` (or
`X-Forwarded-For`) that is not a trusted proxy, and the scheme and host that proxy reports.
Every event, throttle, hook call and session records that address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Annotated, Any

from fastapi import Depends
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn.context import Context, open_context
from keyturn.domain.events import Requester
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.flows.sessions import resolve_session
from keyturn.runtime import Runtime

SESSION_COOKIE = "keyturn_session"
_CONTROL = {c: None for c in range(32)} | {127: None}


def clean_header(value: str, limit: int) -> str:
    """Header text as logs and sessions keep it: no control characters, bounded length."""
    return value.translate(_CONTROL)[:limit]


Address = IPv4Address | IPv6Address
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> Address | None:
    """One hop as proxies write it: `192.0.2.1`, `192.0.2.1:80`, `"[2001:db8::1]:4711"`, `2001:db8::1`."""
    hop = text.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        address = ip_address(hop)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_elements(headers: Sequence[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    """RFC 7239 `Forwarded`, one dict of pairs per hop, in order (left = furthest)."""
    elements: list[dict[str, str]] = []
    for name, value in headers:
        if name != b"forwarded":
            continue
        for element in value.decode("latin-1").split(","):
            pairs: dict[str, str] = {}
            for pair in element.split(";"):
                key, sep, val = pair.partition("=")
                if sep:
                    pairs[key.strip().lower()] = val.strip().strip('"')
            elements.append(pairs)
    return elements


def _header_list(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    values: list[str] = []
    for key, value in headers:
        if key == name:
            values.extend(part.strip() for part in value.decode("latin-1").split(","))
    return values


def forwarded_client(
    peer: str, headers: Sequence[tuple[bytes, bytes]], trusted: Sequence[str]
) -> tuple[str, str | None, str | None]:
    """(client address, scheme, host): the peer and nothing else unless the peer is trusted;
    then the rightmost untrusted hop, and the scheme and host the nearest proxy reports."""
    networks = _networks(tuple(trusted))
    peer_address = _address(peer)

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in networks)

    if not networks or peer_address is None or not is_trusted(peer_address):
        return peer, None, None
    elements = _forwarded_elements(headers)
    if elements:
        hops = [element.get("for", "") for element in elements]
        proto = elements[-1].get("proto")
        host = elements[-1].get("host")
    else:
        hops = _header_list(headers, b"x-forwarded-for")
        protos = _header_list(headers, b"x-forwarded-proto")
        hosts = _header_list(headers, b"x-forwarded-host")
        proto = protos[-1] if protos else None
        host = hosts[-1] if hosts else None
    client = peer_address
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # "unknown", an obfuscated or a forged hop: the proxy that saw it is the client
            break
        client = address
        if not is_trusted(address):
            break
    scheme = proto.lower() if proto and proto.lower() in ("http", "https") else None
    return str(client), scheme, host if host and _HOST.match(host) else None


class ForwardedHeaders:
    """Pure ASGI: what a trusted reverse proxy says about the client replaces the peer's
    address (and the scheme and Host); from anyone else those headers change nothing."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str]) -> None:
        self.app = app
        self.trusted = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted and scope.get("client"):
            headers = scope.get("headers") or []
            peer_host, peer_port = scope["client"]
            client, scheme, host = forwarded_client(peer_host, headers, self.trusted)
            if client != peer_host or scheme or host:
                scope = dict(scope)
                scope["client"] = (client, peer_port if client == peer_host else 0)
                if scheme:
                    scope["scheme"] = scheme
                if host:
                    scope["headers"] = [(k, v) for k, v in headers if k != b"host"] + [
                        (b"host", host.encode("latin-1"))
                    ]
        await self.app(scope, receive, send)


def requester_of(request: Request) -> Requester:
    return Requester(
        ip=request.client.host if request.client else "",
        user_agent=clean_header(request.headers.get("user-agent", ""), 512),
        request_id=str(request.scope.get("state", {}).get("request_id", "")),
    )


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class ContextRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            async with open_context(runtime_of(request), requester_of(request)) as ctx:
                request.state.ctx = ctx
                return await endpoint(request)

        return handler


def context_of(request: Request) -> Context:
    ctx: Context = request.state.ctx
    return ctx


async def get_context(request: Request) -> Context:
    """The dependency; async on purpose, since FastAPI runs a plain `def` one in a worker thread."""
    return context_of(request)


ContextDep = Annotated[Context, Depends(get_context)]


async def current_session(request: Request, ctx: ContextDep) -> tuple[Session, User] | None:
    return await resolve_session(ctx, request.cookies.get(SESSION_COOKIE))


SessionDep = Annotated[tuple[Session, User] | None, Depends(current_session)]
