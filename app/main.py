"""FastAPI application factory: routers under /api/v1, domain errors mapped to HTTP in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.contract import install_contract
from app.api.routes import (
    admin_pages,
    data,
    exports,
    health,
    hits,
    jobs,
    models,
    projects,
    quality,
    task,
)
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import DomainError
from app.core.migrate import check_migrated

API_PREFIX = "/api/v1"
#: Retry-After (seconds) of the 503 sent while the database is unreachable.
RETRY_AFTER_SECONDS = 5

_HTTP_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def _error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": code, "detail": detail, **extra}, headers=headers
    )


def _loc(loc: Any) -> str:
    return ".".join(str(part) for part in loc)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return _error(exc.status_code, exc.code, exc.detail, headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return _error(422, "invalid_input", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # Last line of defence: schemas and services validate values before they reach the DB.
        return _error(422, "invalid_input", "a value cannot be stored (out of range or bad text)")

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Services check constraints first; this only catches a race between two writers.
        return _error(409, "conflict", "the request conflicts with the current state; retry")

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        # The database is down, unreachable, restarting or locked: nothing was changed.
        return _error(
            503,
            "database_unavailable",
            "the database is unavailable right now; nothing was changed, retry shortly",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for exc_class in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(exc_class, _unavailable)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Refuses to start (at lifespan start-up) on an un-migrated database."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        check_migrated(engine)
        yield
        engine.dispose()

    # Swagger UI and ReDoc assets come from the fastapi-offline package (MIT), served under
    # /static-offline-docs: /docs and /redoc work with no network.
    app = FastAPIOffline(
        title="frtrain",
        version="0.1.0",
        description=(
            "Crowdsourced clean validation sets for FR-Train (ICML 2020, §4.4): projects, "
            "examples, gold questions, answers, worker quality, aggregated labels, exports. "
            "Admin endpoints need `Authorization: Bearer <token>` (`frtrain admin create-token`)."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    _install_error_handlers(app)
    install_contract(app)

    app.include_router(health.router)
    app.include_router(task.router)  # the worker task page (HTML), outside /api/v1
    admin_pages.install(app)  # admin web pages (HTML, cookie sign-in) under /admin
    for router in _api_routers():
        app.include_router(router, prefix=API_PREFIX)
    return app


def _api_routers() -> list[Any]:
    return [projects.router, data.router, quality.router, exports.router, hits.router, jobs.router,
            models.router]  # fmt: skip
