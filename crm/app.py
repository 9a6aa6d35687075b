"""The Sanic application: CRM API under /api/v1, channel webhooks, console, health. Built by ``create_app``."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm import scheduler
from crm.config import Settings, get_settings
from crm.core import openapi as oas
from crm.core.auth import public
from crm.core.errors import ApiError
from crm.core.http import guard_request, json_ok
from crm.db import make_engine, make_read_sessionmaker, make_sessionmaker
from crm.notifications.senders import LogSender
from crm.pubsub import RedisPubSub, make_pubsub

log = logging.getLogger("urp")

# Domain packages whose ``api.bp`` is mounted, in order. Packages not yet present are skipped.
MODULES = [
    "crm.operators",
    "crm.offices",
    "crm.contacts",
    "crm.conversations",
    "crm.tickets",
    "crm.audit",
    "crm.events",
    "crm.kb",
    "crm.bookings",
    "crm.instances",
    "crm.citizens",
    "crm.sportello",
    "crm.dashboard",
    "channels",
    "crm.console",
]


def present(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"{module}.api") is not None
    except ModuleNotFoundError:
        return False


def _error_json(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> HTTPResponse:
    return json_ok({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def _configure_logging() -> None:
    """urp.* loggers at INFO on stderr. They log ids, counts and events, never citizen data."""
    urp_log = logging.getLogger("urp")
    if not urp_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        urp_log.addHandler(handler)
        urp_log.setLevel(logging.INFO)
        urp_log.propagate = False


def create_app(settings: Settings | None = None, name: str = "sportello_urp") -> Sanic:
    settings = settings or get_settings()
    settings.check_production()
    app = Sanic(name)
    _configure_logging()
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    app.config.PROXIES_COUNT = settings.proxies_count  # so request.remote_addr is the client's, behind a proxy
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.OAS = False
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 3.0
    app.ctx.settings = settings
    app.ctx.senders = {ch: LogSender(ch) for ch in ("sms", "telegram", "email", "web")}
    app.ctx.health = {}  # component name -> callable returning a status dict
    app.on_request(guard_request)  # ids in range, no control characters: before every handler

    for module in MODULES:
        if present(module):
            app.blueprint(importlib.import_module(f"{module}.api").bp)
            # a module may also hook into the app: senders, health probes, signal handlers, scheduler jobs
            setup = getattr(importlib.import_module(module), "setup", None)
            if setup is not None:
                setup(app)

    @app.before_server_start
    async def _db(app: Sanic, _: Any) -> None:
        app.ctx.engine = make_engine(settings.database_url)
        app.ctx.sessionmaker = make_sessionmaker(app.ctx.engine)
        app.ctx.read_sessionmaker = make_read_sessionmaker(app.ctx.engine)
        app.ctx.pubsub = make_pubsub(settings.redis_url)

    @app.after_server_start
    async def _scheduler(app: Sanic, _: Any) -> None:
        # what start-up built (models, metadata, templates) lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise add 100 ms pauses to large responses
        gc.collect()
        gc.freeze()
        if settings.scheduler:
            app.add_task(scheduler.run_forever(app, settings.scheduler_interval_seconds), name="scheduler")

    @app.before_server_stop
    async def _close(app: Sanic, _: Any) -> None:
        for task in list(app.tasks):
            task.cancel()
        await app.ctx.engine.dispose()
        await app.ctx.pubsub.close()

    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> HTTPResponse:
        return json_ok(exc.body(), status=exc.status, headers=exc.headers or None)

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}
        message = "request body too large" if status == 413 else str(exc) if status < 500 else "internal error"
        return _error_json(status, codes.get(status, "error"), message)

    @app.exception(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> HTTPResponse:
        # a constraint the checks before it missed: the request conflicts with stored data. Still a bug to fix
        # (logged), but the client gets a 409, not a 500
        log.warning("integrity error on %s %s", request.method, request.route.path if request.route else "?")
        return _error_json(409, "conflict", "the request conflicts with existing data")

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTTPResponse:
        # the request body may carry citizen data: log the route only
        log.exception("unhandled error on %s %s", request.method, request.route.path if request.route else "?")
        return _error_json(500, "internal_error", "internal error")

    @app.get("/health")
    @public
    async def health(request: Request) -> HTTPResponse:
        """Component status: database, scheduler, channels (200 even when an optional part is off)."""
        components: dict[str, Any] = {}
        ok = True
        try:
            async with app.ctx.read_sessionmaker() as s:
                await s.execute(text("SELECT 1"))
            components["database"] = {"status": "ok", "backend": app.ctx.engine.dialect.name}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            ok = False
            components["database"] = {"status": "error", "error": type(exc).__name__}
        components["scheduler"] = {"status": "ok" if settings.scheduler else "off"}
        if isinstance(app.ctx.pubsub, RedisPubSub):
            try:
                await app.ctx.pubsub.ping()
                components["pubsub"] = {"status": "ok", "backend": "redis"}
            except Exception as exc:  # noqa: BLE001
                components["pubsub"] = {"status": "error", "backend": "redis", "error": type(exc).__name__}
        else:
            components["pubsub"] = {"status": "ok", "backend": "memory"}
        for name, probe in app.ctx.health.items():
            try:
                components[name] = await probe(app)
            except Exception as exc:  # noqa: BLE001
                components[name] = {"status": "error", "error": type(exc).__name__}
        return json_ok({"status": "ok" if ok else "degraded", "components": components}, status=200 if ok else 503)

    @app.get("/api/v1/openapi.json")
    @public
    async def openapi_json(request: Request) -> HTTPResponse:
        """The OpenAPI document of /api/v1."""
        return json_ok(oas.build(app, title="Sportello URP API", version="1"))

    return app
