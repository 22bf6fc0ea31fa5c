"""Who made an operator change, and the `sapi` event that records it.

Every operator action (management API, dashboard, CLI) runs through `operations/`, and each
records one `sapi` event naming its actor inside the transaction that made the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from keyturn.context import Context
from keyturn.domain.events import EventType


@dataclass(frozen=True)
class Actor:
    kind: Literal["api", "admin", "cli"]
    client_id: str | None = None  # the management API client
    email: str | None = None  # the dashboard operator
    method: str | None = None  # the HTTP request that asked, for the log
    path: str | None = None


CLI = Actor(kind="cli")


def record_change(
    ctx: Context, actor: Actor, operation: str, *, user_id: str | None = None, **details: Any
) -> None:
    """Auth0's `sapi`: call inside the write transaction of the change it records."""
    described: dict[str, Any] = {
        "operation": operation,
        "actor": actor.email or actor.client_id or actor.kind,
    }
    if actor.method:
        described |= {"method": actor.method, "path": actor.path}
    ctx.record(
        EventType.SUCCESS_API_OPERATION,
        user_id=user_id,
        client_id=actor.client_id,
        details={**described, **({"user_id": user_id} if user_id else {}), **details},
    )
