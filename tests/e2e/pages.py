"""Page objects for Keyturn's hosted pages, and Chrome's virtual authenticator.

The page objects find elements the way a person does (labels, button names), so a test
breaks when the texts operators rely on change. The texts are fixed on purpose.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import BrowserContext, CDPSession, Locator, Page, expect

# What the issue asks Chrome to emulate: a platform passkey provider with user verification.
PLATFORM_AUTHENTICATOR: dict[str, Any] = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
# Chrome allows one `internal` authenticator per page, so "another device" is a security key.
# This one reports its passkeys as backed up (a synced passkey).
SYNCED_SECURITY_KEY: dict[str, Any] = {
    **PLATFORM_AUTHENTICATOR,
    "transport": "usb",
    "defaultBackupEligibility": True,
    "defaultBackupState": True,
}


# A phone signing in through a QR code: passkeys reached over the hybrid transport ("cable"),
# which the browser reports as `authenticatorAttachment: "cross-platform"`.
PHONE_AUTHENTICATOR: dict[str, Any] = {**PLATFORM_AUTHENTICATOR, "transport": "cable"}


@dataclass(frozen=True)
class VirtualCredential:
    """One credential as WebAuthn.getCredentials reports it (binary fields decoded)."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    user_name: str
    user_display_name: str
    resident: bool
    sign_count: int

    @classmethod
    def from_cdp(cls, data: dict[str, Any]) -> VirtualCredential:
        return cls(
            credential_id=base64.b64decode(data["credentialId"]),
            rp_id=data.get("rpId", ""),
            user_handle=base64.b64decode(data.get("userHandle", "")),
            user_name=data.get("userName", ""),
            user_display_name=data.get("userDisplayName", ""),
            resident=bool(data.get("isResidentCredential")),
            sign_count=int(data.get("signCount", 0)),
        )


class VirtualAuthenticator:
    """A DevTools virtual authenticator attached to one page."""

    def __init__(self, cdp: CDPSession, options: dict[str, Any]) -> None:
        self.cdp = cdp
        self.id: str = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    @classmethod
    def attach(cls, context: BrowserContext, page: Page, options: dict[str, Any]) -> VirtualAuthenticator:
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        return cls(cdp, options)

    def credentials(self) -> list[VirtualCredential]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]
        return [VirtualCredential.from_cdp(item) for item in found]

    def set_presence(self, enabled: bool) -> None:
        """Off: the authenticator waits for a touch that never comes (requests stay pending)."""
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": self.id, "enabled": enabled}
        )

    def remove(self) -> None:
        """The device is gone (out of reach, or lost): its passkeys answer nothing any more."""
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})

    def add_another(self, options: dict[str, Any]) -> VirtualAuthenticator:
        """A second authenticator in the same browser page."""
        return VirtualAuthenticator(self.cdp, options)


def wait_until(condition: Callable[[], bool], page: Page, message: str, timeout_ms: int = 5_000) -> None:
    """Poll a condition outside the page (the authenticator, the database) while the page runs."""
    waited = 0
    while not condition():
        assert waited < timeout_ms, message
        page.wait_for_timeout(100)  # also lets Playwright deliver the page's events
        waited += 100


def page_data(page: Page) -> dict[str, Any]:
    """The kt-page JSON the server rendered for the script (flow id, CSRF token, ...)."""
    text = page.locator("#kt-page").text_content() or "{}"
    data: dict[str, Any] = json.loads(text)
    return data


class KeyturnPage:
    path = "/"

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    @property
    def error(self) -> Locator:
        return self.page.locator("#kt-error")

    def url_pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.escape(self.base_url + self.path) + r"(\?.*)?$")

    def expect_here(self) -> None:
        expect(self.page).to_have_url(self.url_pattern())


class SignupPage(KeyturnPage):
    path = "/signup"

    def open(self) -> SignupPage:
        self.page.goto(self.base_url + self.path)
        return self

    @property
    def email(self) -> Locator:
        return self.page.get_by_label("Email", exact=True)

    @property
    def password(self) -> Locator:
        return self.page.get_by_label("Password", exact=True)

    @property
    def create_passkey_button(self) -> Locator:
        return self.page.get_by_role("button", name="Create a passkey")

    @property
    def use_password_button(self) -> Locator:
        return self.page.get_by_role("button", name="Use a password instead")

    @property
    def create_with_password_button(self) -> Locator:
        return self.page.get_by_role("button", name="Create account with password")

    def sign_up_with_passkey(self, email: str) -> AccountPage:
        self.email.fill(email)
        self.create_passkey_button.click()
        account = AccountPage(self.page, self.base_url)
        account.expect_here()
        return account

    def choose_password(self, email: str, password: str) -> None:
        """Email, "Use a password instead" (reveals the field), then the password."""
        self.email.fill(email)
        expect(self.password).to_be_hidden()
        self.use_password_button.click()
        expect(self.password).to_be_visible()
        expect(self.create_with_password_button).to_be_visible()
        self.password.fill(password)

    def sign_up_with_password(self, email: str, password: str) -> AccountPage:
        self.choose_password(email, password)
        self.create_with_password_button.click()
        account = AccountPage(self.page, self.base_url)
        account.expect_here()
        return account


class LoginPage(KeyturnPage):
    path = "/login"

    def open(self) -> LoginPage:
        self.page.goto(self.base_url + self.path)
        return self

    @property
    def email(self) -> Locator:
        return self.page.get_by_label("Email", exact=True)

    @property
    def password(self) -> Locator:
        return self.page.get_by_label("Password", exact=True)

    @property
    def continue_button(self) -> Locator:
        return self.page.locator("#continue")

    @property
    def passkey_button(self) -> Locator:
        return self.page.get_by_role("button", name="Sign in with a passkey")

    def continue_with(self, email: str) -> None:
        self.email.fill(email)
        self.page.get_by_role("button", name="Continue").click()

    def sign_in_with_password(self, email: str, password: str) -> AccountPage:
        self.continue_with(email)
        expect(self.password).to_be_visible()
        expect(self.continue_button).to_have_text("Sign in")
        self.password.fill(password)
        self.continue_button.click()
        account = AccountPage(self.page, self.base_url)
        account.expect_here()
        return account

    def submit_password(self, email: str, password: str) -> None:
        """Email, Continue, then the password and Sign in: wherever the sign-in leads next."""
        self.continue_with(email)
        expect(self.password).to_be_visible()
        expect(self.continue_button).to_have_text("Sign in")
        self.password.fill(password)
        self.continue_button.click()

    def sign_in_with_passkey_button(self) -> AccountPage:
        self.passkey_button.click()
        account = AccountPage(self.page, self.base_url)
        account.expect_here()
        return account


class AccountPage(KeyturnPage):
    path = "/account"

    def open(self) -> AccountPage:
        self.page.goto(self.base_url + self.path)
        return self

    @property
    def email(self) -> Locator:
        return self.page.locator("#account-email")

    @property
    def passkeys(self) -> Locator:
        return self.page.locator("li.passkey-item")

    @property
    def notice(self) -> Locator:
        return self.page.locator(".status[role=status]:not(#kt-status)")

    @property
    def add_button(self) -> Locator:
        return self.page.get_by_role("button", name="Add a passkey")

    @property
    def limit_note(self) -> Locator:
        return self.page.locator("#limit-note")

    @property
    def csrf(self) -> str:
        return str(page_data(self.page)["csrf"])

    def passkey(self, name: str) -> Locator:
        return self.passkeys.filter(has=self.page.locator(".passkey-name", has_text=re.compile(f"^{name}$")))

    def badges(self) -> list[str]:
        return [text.strip() for text in self.passkeys.locator(".badge").all_inner_texts()]

    def last_used(self) -> list[str]:
        item = self.passkeys.locator("dl.meta div", has=self.page.locator("dt", has_text="Last used"))
        return [text.strip() for text in item.locator("dd").all_inner_texts()]

    def add_passkey(self) -> None:
        self.add_button.click()
        expect(self.page).to_have_url(re.compile(r"/account\?notice=passkey_added$"))
        expect(self.notice).to_have_text("Passkey added.")

    def rename_passkey(self, index: int, name: str) -> None:
        item = self.passkeys.nth(index)
        item.locator("summary", has_text="Rename").click()
        item.get_by_role("textbox").fill(name)
        item.get_by_role("button", name="Save name").click()
        expect(self.notice).to_have_text("Passkey renamed.")

    def remove_passkey(self, name: str) -> None:
        self.passkey(name).get_by_role("button", name="Remove").click()

    @property
    def sign_out_button(self) -> Locator:
        return self.page.get_by_role("button", name="Sign out", exact=True)

    def sign_out(self) -> LoginPage:
        self.sign_out_button.click()
        login = LoginPage(self.page, self.base_url)
        login.expect_here()
        return login


class EnrollmentOffer(KeyturnPage):
    """The passkey offered right after a sign-in (/enroll/…): progressive or local."""

    path = "/enroll/"

    def url_pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.escape(self.base_url + self.path) + r"[A-Za-z0-9_-]+$")

    @property
    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    @property
    def not_now(self) -> Locator:
        return self.page.get_by_role("button", name="Not now")

    @property
    def dont_ask_again(self) -> Locator:
        return self.page.get_by_role("button", name="Don't ask again")

    def create_button(self, name: str = "Create a passkey") -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def expect_offered(self, heading: str = "Create a passkey") -> None:
        self.expect_here()
        expect(self.heading).to_have_text(heading)
        expect(self.not_now).to_be_visible()
        expect(self.dont_ask_again).to_be_visible()
