"""What every method shares: its id, the `amr` it contributes, and whether the tenant enabled it."""

from __future__ import annotations

from typing import Literal

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError

MethodId = Literal["passkey", "password"]


def require_enabled(tenant: TenantSettings, method: MethodId) -> None:
    toggle = getattr(tenant.authentication_methods, method)
    if not toggle.enabled:
        raise KeyturnError(
            f"Signing in with a {method} is turned off here.", code="method_disabled", status=403
        )
