"""The methods Keyturn offers, in the order pages show them. Adding one is adding it here."""

from __future__ import annotations

from keyturn.domain.flow import Flow
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.methods.base import EnrollmentMethod, LoginMethod, RegistrationMethod, require_enabled
from keyturn.methods.passkey import PasskeyMethod
from keyturn.methods.password import PasswordMethod
from keyturn.methods.recovery_codes import RecoveryCodeMethod
from keyturn.methods.security_key import SecurityKeyMethod
from keyturn.methods.totp import TotpMethod

PASSKEY = PasskeyMethod()
PASSWORD = PasswordMethod()
TOTP = TotpMethod()
RECOVERY_CODE = RecoveryCodeMethod()
SECURITY_KEY = SecurityKeyMethod()
LOGIN_METHODS: dict[MethodId, LoginMethod] = {"passkey": PASSKEY, "password": PASSWORD}
REGISTRATION_METHODS: dict[MethodId, RegistrationMethod] = {"passkey": PASSKEY, "password": PASSWORD}
# What an existing account can add to sign in again (recovery), passkeys first.
ENROLLMENT_METHODS: dict[MethodId, EnrollmentMethod] = {"passkey": PASSKEY, "password": PASSWORD}
# Second factors (issue 12) that answer the second-factor step's **Code** field: an
# authenticator app's six digits, else a recovery code. Security keys answer with a ceremony.
CODE_METHODS: dict[MethodId, TotpMethod | RecoveryCodeMethod] = {"totp": TOTP, "recovery_code": RECOVERY_CODE}


def offered(tenant: TenantSettings) -> tuple[MethodId, ...]:
    """What a flow begun now offers: the methods the tenant has on."""
    return tuple(m for m, method in LOGIN_METHODS.items() if method.enabled(tenant))


def offered_enrollment(tenant: TenantSettings) -> tuple[MethodId, ...]:
    return tuple(m for m, method in ENROLLMENT_METHODS.items() if method.enabled(tenant))


def _check_chosen(
    method: LoginMethod | RegistrationMethod | EnrollmentMethod | None, flow: Flow, tenant: TenantSettings
) -> None:
    if method is None:
        raise KeyturnError(code="unknown_method")
    if method.id not in flow.methods:
        raise KeyturnError(code="method_disabled", status=403, method=method.id)
    require_enabled(tenant, method)  # turned off since the page was opened


def login_method(name: object, flow: Flow, tenant: TenantSettings) -> LoginMethod:
    method = next((m for key, m in LOGIN_METHODS.items() if key == name), None)
    _check_chosen(method, flow, tenant)
    assert method is not None
    return method


def registration_method(name: object, flow: Flow, tenant: TenantSettings) -> RegistrationMethod:
    method = next((m for key, m in REGISTRATION_METHODS.items() if key == name), None)
    _check_chosen(method, flow, tenant)
    assert method is not None
    return method


def enrollment_method(name: object, flow: Flow, tenant: TenantSettings) -> EnrollmentMethod:
    method = next((m for key, m in ENROLLMENT_METHODS.items() if key == name), None)
    _check_chosen(method, flow, tenant)
    assert method is not None
    return method
