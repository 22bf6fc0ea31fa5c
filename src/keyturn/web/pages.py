"""The home redirect and the health check."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, RedirectResponse, Response

from keyturn.web.deps import SessionDep

router = APIRouter()


@router.get("/")
async def home(session: SessionDep) -> Response:
    return RedirectResponse("/account" if session else "/login", status_code=303)


@router.get("/health")
async def health() -> Response:
    return JSONResponse({"status": "ok"})
