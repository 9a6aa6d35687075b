"""The Sanic application: CRM API under /api/v1, channel webhooks, console, health. Built by ``create_app``."""

from __future__ import annotations

import asyncio
import gc
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
from crm.core.errors import ApiError, NotFound, error_body
from crm.core.http import guard_request, json_ok
from crm.db import make_engine, make_read_sessionmaker, make_sessionmaker
from crm.modules import MODULES, package, part
from crm.notifications.senders import LogSender
from crm.pubsub import RedisPubSub, make_pubsub
from crm.registry import load_models
from crm.tasks import Background, drain

log = logging.getLogger("urp")

# what a citizen's turn needs: any of these down and citizens get the holding message (and an operator) instead
TURN_NEEDS = ("database", "pubsub", "rasa", "action_server", "knowledge_base", "turn_queue")


def _error_json(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> HTTPResponse:
    return json_ok(error_body(code, message, fields), status=status)


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
    # the server's own background tasks (turn queue, scheduler, index warm-up), cancelled and awaited at shutdown
    app.ctx.background = Background()
    # components still starting (name -> set when ready): /health says "starting" and no turn is taken until then
    app.ctx.readiness = {}
    # called in order at shutdown, before the database closes: stop taking work, finish or hand back what runs
    app.ctx.stop_hooks = []

    # path prefix -> the page a module shows for an address none of its routes has (404): a citizen or an operator gets
    # an Italian page there, not the API's JSON (which the API keeps)
    app.ctx.page_errors = {}

    load_models()
    for module in MODULES:  # a name that does not import stops the start (crm.modules.UnknownModule)
        api = part(module, "api")
        if api is not None:
            app.blueprint(api.bp)
        # a module may also hook into the app: senders, health probes, signal handlers, scheduler jobs
        setup = getattr(package(module), "setup", None)
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
            app.ctx.background.spawn(scheduler.run_forever(app, settings.scheduler_interval_seconds), name="scheduler")

    @app.before_server_stop
    async def _close(app: Sanic, _: Any) -> None:
        """SIGTERM: stop taking work, let what runs finish within the grace period (or hand it back), close.
        (Sanic runs stop listeners in reverse order: this one, registered last, runs first.)"""
        grace = settings.shutdown_grace_seconds
        deadline = asyncio.get_running_loop().time() + grace
        for hook in app.ctx.stop_hooks:
            try:
                await hook(app, max(deadline - asyncio.get_running_loop().time(), 0.5))
            except Exception:  # noqa: BLE001 - the next hooks and the close still run
                log.exception("stop hook failed")
        await scheduler.stop(app, max(deadline - asyncio.get_running_loop().time(), 0.5))
        left = await drain(max(deadline - asyncio.get_running_loop().time(), 0.5))
        if left:
            log.warning("%d sends or transactions still running at the end of the grace period", left)
        await app.ctx.background.stop()
        await app.ctx.engine.dispose()
        await app.ctx.pubsub.close()

    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> HTTPResponse:
        return json_ok(exc.body(), status=exc.status, headers=exc.headers or None)

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        if status == 404:
            for prefix, page in app.ctx.page_errors.items():
                if request.path.startswith(prefix):
                    return await page(request, NotFound("not found"))
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
        """Component status. ``status``: "ok"; "degraded" when a component a citizen's turn needs is down (they get
        the holding message and an operator meanwhile; ``down`` names them); "starting" (503) until every component
        is ready (the knowledge base's index built); 503 when the database is unreachable."""
        components: dict[str, Any] = {}
        ok = True
        try:
            async with app.ctx.read_sessionmaker() as s:
                await s.execute(text("SELECT 1"))
            components["database"] = {"status": "ok", "backend": app.ctx.engine.dialect.name}
            if app.ctx.engine.dialect.name == "sqlite":
                from crm.db import WRITE_HOLDS

                components["database"]["write_hold_ms"] = WRITE_HOLDS.summary()
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

        async def run(name: str, probe: Any) -> tuple[str, dict[str, Any]]:
            try:
                return name, await probe(app)
            except Exception as exc:  # noqa: BLE001
                return name, {"status": "error", "error": type(exc).__name__}

        # concurrently: a component that hangs costs its own timeout once, not the sum of all of them
        components.update(await asyncio.gather(*(run(n, p) for n, p in app.ctx.health.items())))
        starting = sorted(n for n, ready in app.ctx.readiness.items() if not ready.is_set())
        down = [n for n in TURN_NEEDS if components.get(n, {}).get("status") in ("error", "unreachable")]
        status = "starting" if starting else "degraded" if down or not ok else "ok"
        body = {"status": status, "down": down, "starting": starting, "components": components}
        return json_ok(body, status=200 if ok and not starting else 503)

    @app.get("/api/v1/openapi.json")
    @public
    @oas.openapi(summary="The OpenAPI document of /api/v1", response=oas.DocumentOut)
    async def openapi_json(request: Request) -> HTTPResponse:
        return json_ok(oas.DocumentOut.model_validate(oas.build(app, title="Sportello URP API", version="1")))

    return app
