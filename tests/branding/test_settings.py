"""`/branding` settings: what is accepted, what is refused (and stores nothing), what warns.

The CLI cases run `keyturn config patch` in-process against the test database, as an
operator runs it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from keyturn.cli.main import app
from keyturn.domain.branding import Branding, contrast, readable_ink
from keyturn.domain.tenant import TenantSettings
from keyturn.http.security import content_security_policy
from keyturn.http.templates import page_csp


@pytest.mark.parametrize(
    ("written", "stored"),
    [("#0a7", "#00aa77"), ("#00AA77", "#00aa77"), ("teal", "#008080"), (" Navy ", "#000080")],
)
def test_a_colour_is_css_colour_syntax_stored_as_hex(written: str, stored: str) -> None:
    assert Branding(primary_color=written).primary_color == stored
    assert Branding(background_color=written).background_color == stored


@pytest.mark.parametrize(
    "written",
    [
        "red;}body{display:none",
        "#0a7;background:url(https://evil.example/x)",
        "expression(alert(1))",
        "var(--x)",
        "#12345",
        "notacolour",
        "rgb(0,0,0)",
        "</style><script>alert(1)</script>",
        "",
    ],
)
def test_anything_but_a_colour_is_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="is not a CSS colour"):
        Branding(primary_color=written)


@pytest.mark.parametrize(
    "written",
    ["https://cdn.example.com/acme/logo.svg", "/assets/logo.svg", "/assets/brand/logo-2x.png"],
)
def test_an_asset_is_an_https_url_or_a_served_file(written: str) -> None:
    assert Branding(logo=written, favicon=written, stylesheet=written).logo == written


@pytest.mark.parametrize(
    "written",
    [
        "http://cdn.example.com/logo.svg",
        "javascript:alert(1)",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "/assets/../keyturn.db",
        "/assets/.hidden",
        "/etc/passwd",
        "/static/keyturn.css",
        'https://cdn.example.com/a"onerror="alert(1)',
        "https://cdn.example.com/a b.png",
        "https://user:pw@cdn.example.com/logo.svg",
        "logo.svg",
    ],
)
def test_any_other_asset_reference_is_refused(written: str) -> None:
    with pytest.raises(ValidationError):
        Branding(logo=written)


def test_the_product_name_falls_back_to_the_relying_partys_display_name() -> None:
    assert TenantSettings().product_name == "Keyturn"
    assert TenantSettings(branding=Branding(product_name="Acme")).product_name == "Acme"
    with pytest.raises(ValidationError):
        Branding(product_name="Acme\n<b>")


def test_text_on_a_colour_is_whichever_of_black_and_white_reads_better() -> None:
    assert readable_ink("#ffff00") == "#14171f"
    assert readable_ink("#000080") == "#ffffff"
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0
    variables = Branding(primary_color="#000080", background_color="#ffffe0").css_variables()
    assert variables == {
        "--accent": "#000080",
        "--accent-ink": "#ffffff",
        "--focus": "#000080",
        "--bg": "#ffffe0",
        "--bg-ink": "#14171f",
    }


def test_a_primary_colour_too_pale_for_links_warns_for_the_scheme_it_fails() -> None:
    assert Branding(primary_color="#1a4fd6").warnings() == [
        "branding.primary_color #1a4fd6: links in it reach only 2.6:1 against the dark card #181b24 "
        "(WCAG AA asks 4.5:1)"
    ]
    pale = Branding(primary_color="#ffff00").warnings()
    assert len(pale) == 1 and "light card #ffffff" in pale[0]
    assert Branding().warnings() == []


def test_the_csp_is_widened_exactly_for_the_configured_https_assets() -> None:
    default = content_security_policy()
    assert page_csp(TenantSettings()) == default
    assert page_csp(None) == default
    served = TenantSettings(
        branding=Branding(logo="/assets/l.svg", stylesheet="/assets/s.css", primary_color="#0a7")
    )
    assert page_csp(served) == default  # Keyturn's own files: nothing to add
    branded = TenantSettings(
        branding=Branding(
            logo="https://img.example.com/acme/logo.svg",
            favicon="https://img.example.com/favicon.ico",
            stylesheet="https://css.example.net:8443/acme.css",
        )
    )
    directives = dict(d.split(" ", 1) for d in page_csp(branded).split("; "))
    assert directives["img-src"] == "'self' data: https://img.example.com"
    assert directives["style-src"] == "'self' https://css.example.net:8443"
    unchanged = {k: v for k, v in dict(d.split(" ", 1) for d in default.split("; ")).items()}
    assert {k: v for k, v in directives.items() if k not in ("img-src", "style-src")} == {
        k: v for k, v in unchanged.items() if k not in ("img-src", "style-src")
    }


# --- keyturn config patch ---------------------------------------------------------------


@pytest.fixture
def cli(clean_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(os.environ):
        if name.upper().startswith("KEYTURN_"):
            monkeypatch.delenv(name)
    env = {"KEYTURN_DATA_DIR": str(tmp_path / "data"), "KEYTURN_DATABASE_URL": clean_database}
    runner = CliRunner()

    def keyturn(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return keyturn


def test_config_patch_sets_the_brand(cli: Any) -> None:
    code, out, err = cli(
        "config",
        "patch",
        "--replace",
        "/branding/primary_color=#0a7",
        "--replace",
        "/branding/product_name=Acme",
        "--replace",
        "/branding/logo=https://img.example.com/logo.svg",
    )
    assert code == 0, err
    assert json.loads(out)["branding"]["primary_color"] == "#00aa77"
    code, out, _ = cli("config", "get", "/branding")
    assert json.loads(out) == {
        "product_name": "Acme",
        "logo": "https://img.example.com/logo.svg",
        "favicon": None,
        "primary_color": "#00aa77",
        "background_color": None,
        "stylesheet": None,
    }


def test_config_patch_warns_of_a_poor_contrast_but_stores_it(cli: Any) -> None:
    code, _, err = cli("config", "patch", "--replace", "/branding/primary_color=#ffff00")
    assert code == 0
    assert "warning: branding.primary_color #ffff00: links in it reach only" in err
    assert json.loads(cli("config", "get", "/branding/primary_color")[1]) == "#ffff00"


@pytest.mark.parametrize(
    ("assignment", "named"),
    [
        ("/branding/primary_color=red;}body{display:none", "/branding/primary_color"),
        ("/branding/background_color=url(x)", "/branding/background_color"),
        ("/branding/logo=javascript:alert(1)", "/branding/logo"),
        ("/branding/stylesheet=http://css.example.com/a.css", "/branding/stylesheet"),
        ("/branding/font=serif", "font"),
    ],
)
def test_a_bad_brand_value_is_refused_clearly_and_nothing_is_stored(
    cli: Any, assignment: str, named: str
) -> None:
    before = cli("config", "get")[1]
    code, out, err = cli("config", "patch", "--replace", "/branding/product_name=Acme", "--add", assignment)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and named in err and "Traceback" not in err
    assert cli("config", "get")[1] == before
