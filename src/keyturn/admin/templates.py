"""Jinja for the dashboard's pages (its own folder; the hosted pages' CSS is shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(),
        auto_reload=False,
    )
)


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)
