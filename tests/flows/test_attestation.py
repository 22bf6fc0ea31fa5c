"""`passkey_options.attestation` through the hosted pages: the conveyance asked for, a refused
attestation storing nothing and leaving its event, a verified one recorded with the passkey
(account page, /api/v2) and signing in as an attested device-bound key.

The software authenticator makes real packed attestations with a test security-key maker's PKI;
the FIDO Metadata Service blob is a test one signed by a test root Keyturn is configured to trust.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.context import Context
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.http.security import SESSION_COOKIE
from keyturn.operations.audit import CLI
from keyturn.operations.mds import update_metadata
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.flows.test_passkey_failures import (
    add_passkey,
    assert_error,
    new_registration,
    sign_in,
    submit_signup,
)
from tests.management.conftest import Api
from tests.support import browser, store
from tests.support.mds import AttestationCa, MetadataService, entry
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
MODEL = uuid.UUID("2fc0579f-8113-47ea-b116-bb5a8db9202a")  # a security key model of the test PKI


@pytest.fixture(scope="module")
def service() -> MetadataService:
    return MetadataService()


@pytest.fixture(scope="module")
def maker() -> AttestationCa:
    return AttestationCa()


@pytest.fixture
def client(
    settings: Settings, clock: FrozenClock, tmp_path: Path, service: MetadataService
) -> Iterator[TestClient]:
    """The usual client, trusting the test MDS root instead of the FIDO Alliance's."""
    root = tmp_path / "mds-root.pem"
    root.write_bytes(service.root_pem)
    app = create_app(settings.model_copy(update={"mds_root_certificate_file": root}), clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}) as test_client:
        yield test_client


def security_key(
    maker: AttestationCa, *, model: uuid.UUID = MODEL, backup_eligible: bool = False
) -> SoftAuthenticator:
    key, certificate = maker.batch(model)
    return SoftAuthenticator(
        aaguid=model.bytes,
        backup_eligible=backup_eligible,
        backup_state=False,
        transports=("usb",),
        attachment="cross-platform",
        attestation_key=key,
        attestation_chain=(certificate,),
    )


def store_blob(client: TestClient, service: MetadataService, blob: str) -> StoredMetadataBlob:
    async def work(ctx: Context) -> StoredMetadataBlob:
        return await update_metadata(ctx, blob.encode(), actor=CLI)

    return store.in_context(client, work)


def listing(
    service: MetadataService,
    maker: AttestationCa,
    *,
    statuses: tuple[str, ...] = ("FIDO_CERTIFIED_L2",),
    serial: int = 1,
) -> str:
    return service.blob(
        [
            entry(
                description="Test Key 5 NFC", roots_pem=[maker.root_pem], aaguid=str(MODEL), statuses=statuses
            )
        ],
        serial=serial,
    )


def refused_signup(client: TestClient, authenticator: SoftAuthenticator, code: str) -> None:
    flow, credential = new_registration(client, authenticator, email=EMAIL)
    assert_error(submit_signup(client, flow, credential), 400, code)
    assert store.find_user(client, EMAIL) is None
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None
    (failed,) = store.events_of(client, "fs")
    assert failed.details["error"] == code


def test_the_conveyance_is_asked_for_in_the_creation_options(client: TestClient) -> None:
    assert browser.signup_options(client, EMAIL)[1]["attestation"] == "none"
    for conveyance in ("indirect", "direct", "enterprise"):
        store.set_tenant(client, "/passkey_options/attestation", conveyance)
        assert browser.signup_options(client, EMAIL)[1]["attestation"] == conveyance


def test_direct_with_no_stored_blob_refuses_and_stores_nothing(
    client: TestClient, maker: AttestationCa
) -> None:
    store.set_tenant(client, "/passkey_options/attestation", "direct")

    refused_signup(client, security_key(maker), "attestation_untrusted")


def test_direct_refuses_a_passkey_without_attestation(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    store_blob(client, service, listing(service, maker))
    store.set_tenant(client, "/passkey_options/attestation", "direct")

    refused_signup(client, SoftAuthenticator(), "attestation_untrusted")  # "none", as synced passkeys send


def test_direct_refuses_a_model_mds_reports_revoked(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    store_blob(client, service, listing(service, maker, statuses=("FIDO_CERTIFIED_L1", "REVOKED")))
    store.set_tenant(client, "/passkey_options/attestation", "direct")

    refused_signup(client, security_key(maker), "authenticator_compromised")


def test_direct_refuses_a_key_made_by_another_maker(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    store_blob(client, service, listing(service, maker))
    store.set_tenant(client, "/passkey_options/attestation", "direct")

    refused_signup(client, security_key(AttestationCa()), "attestation_untrusted")  # same AAGUID, other root


def test_a_verified_device_bound_key_is_recorded_shown_and_signs_in_attested(
    client: TestClient, service: MetadataService, maker: AttestationCa, clock: FrozenClock
) -> None:
    store_blob(client, service, listing(service, maker))
    store.set_tenant(client, "/passkey_options/attestation", "direct")
    key = security_key(maker)

    assert browser.signup_with_passkey(client, key, EMAIL).status_code == 200

    user = store.user_of(client, EMAIL)
    (passkey,) = store.passkeys_of(client, user.id)
    attestation = passkey.attestation
    assert (attestation.format, attestation.type, attestation.verified) == ("packed", "basic", True)
    assert (attestation.provider, attestation.certification_level) == ("Test Key 5 NFC", "FIDO_CERTIFIED_L2")
    assert passkey.attested_device_bound
    page = client.get("/account").text
    assert "Verified model" in page and "Test Key 5 NFC (FIDO_CERTIFIED_L2)" in page

    browser.sign_out(client)
    response = sign_in(client, key)
    assert response.status_code == 200, response.text
    session = store.find_session(client, response.cookies[SESSION_COOKIE], now=clock.now())
    assert session is not None
    assert [(e.method, e.attested_device_bound) for e in session.authenticated] == [("passkey", True)]

    methods = Api(client).ok(Api(client).get(f"/users/{user.id}/authentication-methods"))
    (shape,) = [m for m in methods if m["type"] == "passkey"]
    assert shape["attestation"] == {
        "format": "packed",
        "type": "basic",
        "verified": True,
        "provider": "Test Key 5 NFC",
        "certification_level": "FIDO_CERTIFIED_L2",
    }


def test_a_synced_or_unattested_passkey_never_signs_in_as_attested_device_bound(
    client: TestClient, service: MetadataService, maker: AttestationCa, clock: FrozenClock
) -> None:
    store_blob(client, service, listing(service, maker))
    store.set_tenant(client, "/passkey_options/attestation", "indirect")
    synced = security_key(maker, backup_eligible=True)  # verified, but BE=1
    assert browser.signup_with_passkey(client, synced, EMAIL).status_code == 200
    (passkey,) = store.passkeys_of(client, store.user_of(client, EMAIL).id)
    assert passkey.attestation.verified and not passkey.attested_device_bound

    browser.sign_out(client)
    response = sign_in(client, synced)

    session = store.find_session(client, response.cookies[SESSION_COOKIE], now=clock.now())
    assert session is not None
    assert [e.attested_device_bound for e in session.authenticated] == [False]


def test_indirect_records_an_unverifiable_attestation_as_unverified(
    client: TestClient, maker: AttestationCa
) -> None:
    store.set_tenant(client, "/passkey_options/attestation", "indirect")  # and no blob stored

    assert browser.signup_with_passkey(client, security_key(maker), EMAIL).status_code == 200

    (passkey,) = store.passkeys_of(client, store.user_of(client, EMAIL).id)
    assert (passkey.attestation.format, passkey.attestation.verified) == ("packed", False)
    assert not passkey.attested_device_bound


def test_adding_a_passkey_under_direct_refuses_an_unattested_one_with_its_event(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    assert browser.signup_with_passkey(client, SoftAuthenticator(), EMAIL).status_code == 200
    user = store.user_of(client, EMAIL)
    store_blob(client, service, listing(service, maker))
    store.set_tenant(client, "/passkey_options/attestation", "direct")

    assert_error(add_passkey(client, SoftAuthenticator()), 400, "attestation_untrusted")

    assert len(store.passkeys_of(client, user.id)) == 1
    (failed,) = store.events_of(client, "gd_webauthn_enrollment_failed")
    assert failed.details["error"] == "attestation_untrusted"
    assert add_passkey(client, security_key(maker)).status_code == 200
    assert len(store.passkeys_of(client, user.id)) == 2


def test_a_stored_blob_is_replaced_only_by_a_newer_one(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    store_blob(client, service, listing(service, maker, serial=5))

    for serial in (5, 4):
        with pytest.raises(Exception) as refused:
            store_blob(client, service, listing(service, maker, serial=serial))
        assert getattr(refused.value, "code", None) == "mds_blob_not_newer"

    assert store_blob(client, service, listing(service, maker, serial=6)).serial == 6


def test_a_certificate_naming_another_model_is_refused(
    client: TestClient, service: MetadataService, maker: AttestationCa
) -> None:
    other = uuid.UUID("6d44ba9b-f6ec-2e49-b930-0c8fe920cb73")
    blob = service.blob([entry(description="Other model", roots_pem=[maker.root_pem], aaguid=str(other))])
    store_blob(client, service, blob)
    store.set_tenant(client, "/passkey_options/attestation", "direct")
    key, certificate = maker.batch(MODEL)  # the maker's certificate for MODEL…
    lying = SoftAuthenticator(
        aaguid=other.bytes,
        backup_eligible=False,
        backup_state=False,
        attestation_key=key,
        attestation_chain=(certificate,),
    )  # …in a key that says it is the other model

    refused_signup(client, lying, "attestation_untrusted")
