"""Keyturn records → Auth0's response shapes."""

from __future__ import annotations

import base64
from datetime import datetime

from webauthn.helpers import bytes_to_base64url

from keyturn.domain.events import Event
from keyturn.domain.factors import RecoveryCodes, TotpCredential
from keyturn.domain.identity import Passkey, User
from keyturn.domain.methods import HOOK_NAME
from keyturn.domain.session import Session
from keyturn.domain.tenant import TenantSettings
from keyturn.management.schemas import (
    CONNECTION_ID,
    CONNECTION_NAME,
    AttestationOut,
    AuthenticationMethodOut,
    ConnectionOut,
    Identity,
    LogOut,
    SessionAuthentication,
    SessionAuthenticationMethod,
    SessionDevice,
    SessionOut,
    UserOut,
)
from keyturn.operations.users import (
    PASSWORD_METHOD_PREFIX,
    RECOVERY_CODE_METHOD_PREFIX,
    SECURITY_KEY_METHOD_PREFIX,
    TOTP_METHOD_PREFIX,
)
from keyturn.passkeys.aaguid import provider_name


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def user_out(user: User) -> UserOut:
    return UserOut(
        user_id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        created_at=iso(user.created_at),
        updated_at=iso(user.updated_at),
        identities=[Identity(user_id=user.id)],
        traits=user.traits,
        user_metadata=user.user_metadata,
        app_metadata=user.app_metadata,
    )


def passkey_out(passkey: Passkey) -> AuthenticationMethodOut:
    return AuthenticationMethodOut(
        id=passkey.id,
        type="passkey",
        name=passkey.name,
        created_at=iso(passkey.created_at),
        last_auth_at=iso(passkey.last_used_at) if passkey.last_used_at else None,
        key_id=bytes_to_base64url(passkey.credential_id),
        public_key=base64.b64encode(passkey.public_key).decode(),
        credential_device_type=passkey.device_type,
        credential_backed_up=passkey.backup_state,
        transports=list(passkey.transports),
        user_handle=bytes_to_base64url(passkey.user_handle),
        identity_user_id=passkey.user_id,
        user_agent=passkey.user_agent,
        aaguid=passkey.aaguid,
        aaguid_name=provider_name(passkey.aaguid),
        attestation=AttestationOut(
            format=passkey.attestation.format,
            type=passkey.attestation.type,
            verified=passkey.attestation.verified,
            provider=passkey.attestation.provider,
            certification_level=passkey.attestation.certification_level,
        ),
        relying_party_identifier=passkey.rp_id,
        usage=["primary"],
    )


def password_out(user: User) -> AuthenticationMethodOut:
    """The password as a method: that it exists and since when, never anything of the secret."""
    return AuthenticationMethodOut(
        id=f"{PASSWORD_METHOD_PREFIX}{user.id}",
        type="password",
        created_at=iso(user.created_at),
        identity_user_id=user.id,
        usage=["primary"],
    )


def totp_out(credential: TotpCredential) -> AuthenticationMethodOut:
    """An authenticator app: that it exists, never its secret."""
    return AuthenticationMethodOut(
        id=f"{TOTP_METHOD_PREFIX}{credential.id}",
        type="totp",
        created_at=iso(credential.created_at),
        last_auth_at=iso(credential.last_used_at) if credential.last_used_at else None,
        identity_user_id=credential.user_id,
        usage=["secondary"],
    )


def recovery_codes_out(user: User, codes: RecoveryCodes) -> AuthenticationMethodOut:
    return AuthenticationMethodOut(
        id=f"{RECOVERY_CODE_METHOD_PREFIX}{user.id}",
        type="recovery-code",
        created_at=iso(codes.created_at),
        identity_user_id=user.id,
        usage=["secondary"],
    )


def security_key_out(key: Passkey) -> AuthenticationMethodOut:
    return AuthenticationMethodOut(
        id=f"{SECURITY_KEY_METHOD_PREFIX}{key.id}",
        type="webauthn-roaming",
        name=key.name,
        created_at=iso(key.created_at),
        last_auth_at=iso(key.last_used_at) if key.last_used_at else None,
        key_id=bytes_to_base64url(key.credential_id),
        public_key=base64.b64encode(key.public_key).decode(),
        identity_user_id=key.user_id,
        aaguid=key.aaguid,
        relying_party_identifier=key.rp_id,
        usage=["secondary"],
    )


def connection_out(tenant: TenantSettings) -> ConnectionOut:
    """The one database connection; its options are the tenant settings with Auth0's key names."""
    return ConnectionOut(
        id=CONNECTION_ID,
        name=CONNECTION_NAME,
        display_name=tenant.rp.display_name,
        options=tenant.model_dump(mode="json"),
    )


def log_out(event: Event) -> LogOut:
    return LogOut(
        log_id=event.log_id,
        date=iso(event.date),
        type=event.type.value,
        description=event.description,
        ip=event.ip,
        user_agent=event.user_agent,
        user_id=event.user_id,
        user_name=event.user_name,
        client_id=event.client_id,
        details=event.details,
    )


def session_out(session: Session) -> SessionOut:
    """Auth0's session: times, the device (Keyturn keeps the user agent and IP it began with),
    and the methods that authenticated it (Auth0's names: "passkey", "pwd")."""
    return SessionOut(
        id=session.id,
        user_id=session.user_id,
        created_at=iso(session.created_at),
        updated_at=iso(session.last_active),
        authenticated_at=iso(session.auth_time),
        expires_at=iso(session.expires_at),
        last_interacted_at=iso(session.last_active),
        device=SessionDevice(
            initial_user_agent=session.user_agent,
            initial_ip=session.ip,
            last_user_agent=session.user_agent,
            last_ip=session.ip,
        ),
        authentication=SessionAuthentication(
            methods=[
                SessionAuthenticationMethod(name=HOOK_NAME[e.method], timestamp=iso(e.at))
                for e in session.authenticated
            ]
        ),
    )
