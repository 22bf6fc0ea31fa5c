"""Page objects for the example relying party (examples/oidc_client/app.py) and Keyturn's
consent and sign-out pages, and recorders of where a tab went and what its console said."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import ConsoleMessage, Locator, Page, Response, expect

from tests.e2e.pages import KeyturnPage


class ExampleAppPage:
    """The example app's pages: home (signed out or in) and its callback's error page."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    @property
    def home_url(self) -> str:
        return f"{self.base_url}/"

    def open(self) -> ExampleAppPage:
        self.page.goto(self.home_url)
        return self

    @property
    def sign_in_link(self) -> Locator:
        return self.page.get_by_role("link", name="Sign in with Keyturn")

    @property
    def sign_out_link(self) -> Locator:
        return self.page.get_by_role("link", name="Sign out")

    @property
    def email(self) -> Locator:
        return self.page.locator("#email")

    @property
    def error(self) -> Locator:
        return self.page.locator("#error")

    def sign_in(self) -> None:
        """What a signed-out visitor does: "Sign in with Keyturn"."""
        self.sign_in_link.click()

    def sign_in_again(self, *, prompt: str | None = None) -> None:
        """The app's /login (where the link goes), optionally with an OIDC prompt value."""
        query = f"?{urlencode({'prompt': prompt})}" if prompt is not None else ""
        self.page.goto(f"{self.base_url}/login{query}")

    def claims(self) -> dict[str, Any]:
        """The ID token claims Authlib validated, as the signed-in home page shows them."""
        data: dict[str, Any] = json.loads(self.page.locator("#claims").text_content() or "{}")
        return data

    def expect_signed_in(self, email: str) -> dict[str, Any]:
        expect(self.page).to_have_url(self.home_url)
        expect(self.email).to_have_text(email)
        return self.claims()

    def expect_signed_out(self) -> None:
        expect(self.page).to_have_url(self.home_url)
        expect(self.sign_in_link).to_be_visible()
        expect(self.email).to_have_count(0)


class ConsentPage(KeyturnPage):
    path = "/oauth2/consent/"

    def url_pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.escape(self.base_url + self.path) + r"[^/?#]+$")

    @property
    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    @property
    def lede(self) -> Locator:
        return self.page.locator("p.lede")

    @property
    def scope_items(self) -> Locator:
        return self.page.locator("ul.scopes li")

    def scopes(self) -> dict[str, str]:
        """{scope: the description the person reads}."""
        items = self.scope_items
        return {
            str(items.nth(i).get_attribute("data-scope")): items.nth(i).inner_text().strip()
            for i in range(items.count())
        }

    @property
    def allow_button(self) -> Locator:
        return self.page.get_by_role("button", name="Allow")

    @property
    def deny_button(self) -> Locator:
        return self.page.get_by_role("button", name="Deny")


@dataclass
class Navigations:
    """Every main-frame document response of a tab, redirect hops included: (url, status)."""

    page: Page
    seen: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def record(cls, page: Page) -> Navigations:
        recorder = cls(page)
        page.on("response", recorder._on_response)
        return recorder

    def _on_response(self, response: Response) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.seen.append((response.url, response.status))

    def clear(self) -> None:
        self.seen.clear()

    def paths(self, base_url: str) -> list[str]:
        """The paths (no query) of the documents fetched from base_url, in order."""
        return [urlsplit(url).path for url, _ in self.seen if url.startswith(base_url + "/")]

    def pages_shown(self, base_url: str) -> list[str]:
        """Paths of the documents from base_url that were pages (200), not redirects."""
        mine = [(url, status) for url, status in self.seen if url.startswith(base_url + "/")]
        return [urlsplit(url).path for url, status in mine if status == 200]


class LogoutPage(KeyturnPage):
    """Keyturn's "Sign out?" page (RP-initiated logout it cannot tie to the session)."""

    path = "/oauth2/logout"

    @property
    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    @property
    def sign_out_button(self) -> Locator:
        return self.page.get_by_role("button", name="Sign out")


@dataclass
class ConsoleErrors:
    """The tab's console errors: where Chrome says why it refused a navigation (CSP)."""

    messages: list[str] = field(default_factory=list)

    @classmethod
    def record(cls, page: Page) -> ConsoleErrors:
        recorder = cls()
        page.on("console", recorder._on_message)
        return recorder

    def _on_message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(message.text)

    def csp_violations(self) -> list[str]:
        return [text for text in self.messages if "Content Security Policy" in text]


def expect_redirected_to(
    page: Page, url: str | re.Pattern[str], console: ConsoleErrors, timeout_ms: int = 5_000
) -> None:
    """The tab ends up at url. If the browser refuses to go there (CSP), fail at once and say so."""
    pattern = url if isinstance(url, re.Pattern) else re.compile("^" + re.escape(url) + "$")
    waited = 0
    while not pattern.search(page.url) and not console.csp_violations() and waited < timeout_ms:
        page.wait_for_timeout(100)
        waited += 100
    refused = console.csp_violations()
    assert pattern.search(page.url) or not refused, (
        f"stayed on {page.url} instead of going to {url}: the browser refused: {refused}"
    )
    expect(page).to_have_url(url)
