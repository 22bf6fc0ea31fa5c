"""The operator's brand on the hosted pages and in the emails (tenant settings `/branding`).

Every value is checked so that nothing written here can inject markup or CSS: colours are
CSS colour syntax only and stored as `#rrggbb`; assets are an https URL or a path Keyturn
serves itself (`/assets/...`, from the `pages.assets_dir` folder). What is configured widens
the pages' CSP exactly: an https logo's or favicon's origin in `img-src`, a stylesheet's
origin in `style-src`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import webcolors
from pydantic import BaseModel, ConfigDict, Field, field_validator

ASSETS_PREFIX = "/assets/"
_ASSET_PATH = re.compile(r"^/assets/(?:[A-Za-z0-9_][A-Za-z0-9._-]*/)*[A-Za-z0-9_][A-Za-z0-9._-]*$")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_URL_UNSAFE = re.compile(r"""[\s"'<>\\()`]""")
# The built-in stylesheet's cards (light and dark schemes): links in the primary colour sit on them.
CARD_COLOURS = {"light": "#ffffff", "dark": "#181b24"}
DARK_INK, LIGHT_INK = "#14171f", "#ffffff"
WCAG_AA = 4.5


def css_colour(value: str) -> str:
    """`#0a7`, `#00aa77` or a CSS named colour (`teal`) → `#00aa77`; a ValueError for anything else."""
    text = value.strip()
    if _HEX.match(text):
        return str(webcolors.normalize_hex(text))
    if re.fullmatch(r"[A-Za-z]{3,30}", text):
        try:
            return str(webcolors.name_to_hex(text.lower()))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a CSS colour: use #rgb, #rrggbb or a CSS colour name such as teal")


def asset_reference(value: str) -> str:
    """An https URL, or a path Keyturn serves from its assets folder (`/assets/logo.svg`)."""
    if value.startswith("/"):
        if not _ASSET_PATH.match(value) or ".." in value:
            raise ValueError(
                f"{value!r}: a file Keyturn serves is written /assets/<file> (letters, digits, . _ -)"
            )
        return value
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValueError(f"{value!r} is neither an https URL nor /assets/<file>")
    if _URL_UNSAFE.search(value) or len(value) > 2048:
        raise ValueError(f"{value!r}: an URL without spaces, quotes, brackets or backslashes")
    return value


def _luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a `#rrggbb` colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = webcolors.hex_to_rgb(colour)
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_ink(background: str) -> str:
    """The text colour (near-black or white) that reads best on `background`."""
    return DARK_INK if contrast(background, DARK_INK) >= contrast(background, LIGHT_INK) else LIGHT_INK


def origin_of(url: str | None) -> str | None:
    """An https URL's origin (what a CSP source lists); None for a path served by Keyturn."""
    if url is None or url.startswith("/"):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Branding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    product_name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The name on every page and email; default rp.display_name.",
    )
    logo: str | None = Field(
        None, description="An https URL or /assets/<file>; shown on pages and in HTML mail."
    )
    favicon: str | None = Field(None, description="An https URL or /assets/<file>.")
    primary_color: str | None = Field(
        None, description="Buttons and links: #rgb, #rrggbb or a CSS colour name (stored as #rrggbb)."
    )
    background_color: str | None = Field(None, description="The page background, same syntax.")
    stylesheet: str | None = Field(
        None, description="An extra stylesheet loaded after Keyturn's: https URL or /assets/<file>."
    )

    _valid_colours = field_validator("primary_color", "background_color")(
        lambda value: None if value is None else css_colour(value)
    )
    _valid_assets = field_validator("logo", "favicon", "stylesheet")(
        lambda value: None if value is None else asset_reference(value)
    )

    @field_validator("product_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or any(ord(c) < 32 for c in value)):
            raise ValueError("a name without control characters or surrounding spaces")
        return value

    @property
    def styled(self) -> bool:
        """Whether the pages load the brand stylesheet (colours to set)."""
        return self.primary_color is not None or self.background_color is not None

    @property
    def image_origins(self) -> tuple[str, ...]:
        """What `img-src` must add: the origins of an https logo and favicon, nothing else."""
        origins = (origin_of(self.logo), origin_of(self.favicon))
        return tuple(dict.fromkeys(o for o in origins if o))

    @property
    def style_origins(self) -> tuple[str, ...]:
        origin = origin_of(self.stylesheet)
        return (origin,) if origin else ()

    def css_variables(self) -> dict[str, str]:
        """The built-in stylesheet's custom properties this brand sets (values are `#rrggbb`)."""
        variables: dict[str, str] = {}
        if self.primary_color:
            primary = self.primary_color
            variables |= {"--accent": primary, "--accent-ink": readable_ink(primary), "--focus": primary}
        if self.background_color:
            variables |= {"--bg": self.background_color, "--bg-ink": readable_ink(self.background_color)}
        return variables

    def warnings(self) -> list[str]:
        """Colours that pass validation but read poorly (WCAG AA asks 4.5:1 for text)."""
        found = []
        if self.primary_color:
            for scheme, card in CARD_COLOURS.items():
                ratio = contrast(self.primary_color, card)
                if ratio < WCAG_AA:
                    found.append(
                        f"branding.primary_color {self.primary_color}: links in it reach only "
                        f"{ratio:.1f}:1 against the {scheme} card {card} (WCAG AA asks {WCAG_AA}:1)"
                    )
        return found
