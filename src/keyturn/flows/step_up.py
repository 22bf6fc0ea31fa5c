"""Step-up: a signed-in session proves more to reach the assurance level an OIDC client asked for.

`oidc.authorization` sends the browser to /login when the session meets none of the levels
asked (`domain.assurance.step_up_level`). The login page then opens a flow that `requires`
that level, for this session's user: for `phr`/`phrh` only passkeys are offered (`phrh` takes
only a passkey whose attestation was verified as device-bound); for the MFA level the second
factor step runs (issue 12's factors part, keyed on `flow.requires`). The proof is added to the
existing session, as re-authentication does (its auth time moves to now), the request is
marked as stepped up for this session (never asked twice), and the authorization resumes.
"""

from __future__ import annotations

from keyturn.context import Context
from keyturn.domain.assurance import ACR_PHR, ACR_PHRH, PASSKEY_LEVELS, step_up_level
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.methods import AMR, MethodId
from keyturn.domain.mfa import passkey_satisfies, session_lacks_mfa
from keyturn.domain.oidc import resume_path
from keyturn.domain.session import Session
from keyturn.errors import CeremonyError, Forbidden, KeyturnError, Unauthenticated
from keyturn.flows.base import start_flow
from keyturn.flows.parked import Parked, load_parked
from keyturn.flows.sessions import SignedIn, auth_event, resolve_session
from keyturn.methods.base import Authenticated


def start_step_up(
    ctx: Context,
    *,
    parked: Parked,
    session: Session,
    binding_token: str,
    offered: tuple[MethodId, ...],
) -> Flow | None:
    """The flow for a step-up, if this session must step up for the parked request (else None:
    an ordinary sign-in page). Bound to the session's user; passkeys only for passkey levels."""
    lacks = session_lacks_mfa(ctx.tenant, parked.client, session)
    level = step_up_level(parked.request, session, mfa_required=lacks)
    if level is None:
        return None
    methods = tuple(m for m in offered if m == "passkey") if level in PASSKEY_LEVELS else offered
    return start_flow(
        ctx,
        "login",
        binding_token=binding_token,
        methods=methods,
        user_id=session.user_id,
        authorization_request_id=parked.request.id,
        requires=level,
    )


def check_level(flow: Flow, authenticated: Authenticated) -> None:
    """What a proof must be for the level the flow requires: a user-verified passkey for phr,
    a passkey attested as device-bound for phrh."""
    if flow.requires in PASSKEY_LEVELS and authenticated.method != "passkey":
        raise KeyturnError(code="unknown_method")
    if flow.requires == ACR_PHR and not authenticated.user_verified:
        raise CeremonyError(code="user_verification_required", detail="step-up to phr without UV")
    if flow.requires == ACR_PHRH and not authenticated.attested_device_bound:
        raise CeremonyError(code="attested_passkey_required", detail="step-up to phrh, passkey not attested")


async def complete_step_up(
    ctx: Context,
    flow: Flow,
    authenticated: Authenticated,
    *,
    session_token: str | None,
    binding_token: str | None,
) -> SignedIn:
    """Add the verified proof to the flow's session (same user only), then resume the request."""
    current = await resolve_session(ctx, session_token)
    user = authenticated.user
    try:
        if current is None or session_token is None:
            raise Unauthenticated(detail="step-up without a session")
        session, owner = current
        if user.id != owner.id or flow.user_id != owner.id:
            raise Forbidden(code="flow_user_mismatch")
        check_level(flow, authenticated)
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_LOGIN,
            user_id=user.id,
            user_name=user.email,
            details={"error": error.code, "reason": "step-up", "requires": flow.requires},
        )
        raise
    parked = await load_parked(ctx, flow.authorization_request_id, binding_token=binding_token)
    stepped = await _add_proof(ctx, flow, session, owner, authenticated, parked)
    to = resume_path(parked.request.id) if parked else "/account"
    return SignedIn(token=session_token, session=stepped, redirect_to=to)


async def _add_proof(
    ctx: Context,
    flow: Flow,
    session: Session,
    user: User,
    authenticated: Authenticated,
    parked: Parked | None,
) -> Session:
    now = ctx.now()
    method = authenticated.method
    kept = [e for e in session.authenticated if e.method != method]
    client = parked.client if parked is not None else None
    satisfies = passkey_satisfies(ctx.tenant, client, flow.requires)  # an MFA step-up with a passkey
    events = (*kept, auth_event(authenticated, at=now, passkey_satisfies=satisfies))
    async with ctx.writing() as tx:
        if authenticated.complete is not None:
            await authenticated.complete(tx)
        await tx.add_session_auth(session.id, events)
        if parked is not None:
            await tx.mark_authorization_stepped_up(parked.request.id, session_id=session.id)
        ctx.record(
            EventType.SUCCESS_LOGIN,
            user_id=user.id,
            user_name=user.email,
            client_id=parked.client.client_id if parked else None,
            details={
                "prompts": [{"name": "step-up", "performed_amr": [AMR[method]], "requires": flow.requires}],
                "authentication_method": method,
                "session_id": session.id,
            },
        )
    return Session(**{**session.__dict__, "authenticated": events})
