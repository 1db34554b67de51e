"""``install(app)``: the console at ``/ui`` (pages, static files, security headers)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from facegate.web.headers import ConsoleHeaders
from facegate.web.pages import HERE, router


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleHeaders)
