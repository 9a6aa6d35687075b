"""The ``urp`` command: database, server, operators, demo data and every module's own sub-commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from crm.clikit import run_async, with_session
from crm.config import get_settings

ROOT = Path(__file__).resolve().parent.parent


@click.group()
def main() -> None:
    """Sportello URP back office."""
    from knowledge.threads import set_defaults

    set_defaults(get_settings().kb_threads)  # before numpy and FAISS load, here and in the server's workers


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.option("--target", default="heads", show_default=True)
def db_upgrade(target: str) -> None:
    """Apply migrations up to TARGET."""
    from crm.migrations import upgrade

    upgrade(get_settings().database_url, target)
    click.echo("database at " + target)


@main.command()
@click.option("--host", default=None, help="default URP_HOST (127.0.0.1)")
@click.option("--port", default=None, type=int, help="default URP_PORT (8000)")
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the CRM + channel hub HTTP server."""
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from crm.app import create_app
    from crm.tasks import finishing_protocol

    settings = get_settings()
    settings.check_production()
    host, port = host or settings.host, port or settings.port
    protocol = finishing_protocol()
    _check_port_free(host, port)
    if workers == 1:
        # one process: SIGTERM and kill -9 reach the server itself (under Sanic's worker manager a killed manager
        # left its worker serving, and every stop waited seconds for the manager's children)
        app = create_app()
        app.prepare(host=host, port=port, access_log=False, single_process=True, motd=False, protocol=protocol)
        Sanic.serve_single(app)
        return
    loader = AppLoader(factory=create_app)
    app = loader.load()
    app.prepare(host=host, port=port, workers=workers, access_log=False, motd=False, protocol=protocol)
    Sanic.serve(primary=app, app_loader=loader)


def _check_port_free(host: str, port: int) -> None:
    """A second server on a busy port fails at once, saying so (Sanic logged an error and kept the process alive)."""
    from crm.core.ports import IN_USE, busy_reason

    reason = busy_reason(host, port)
    if reason == IN_USE:
        raise click.ClickException(
            f"{host}:{port} is already in use (another `urp serve`?): stop it, or "
            "choose another port with --port or URP_PORT"
        )
    if reason:
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}")


@main.group()
def entes() -> None:
    """Municipalities served by this installation."""


@entes.command("create")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--patron-day", default=None, help="MM-DD")
def entes_create(slug: str, name: str, patron_day: str | None) -> None:
    from crm.core.errors import ApiError
    from crm.entes import service

    async def work(s: Any) -> int:
        return (await service.create(s, slug=slug, name=name, patron_day=patron_day)).id

    try:
        click.echo(f"ente {slug} id={run_async(with_session, work)}")
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


@main.group()
def tokens() -> None:
    """Service tokens for machines (action server, hub)."""


@tokens.command("create")
@click.option("--ente", "ente_slug", default=None, help="default URP_DEFAULT_ENTE")
@click.option("--name", required=True)
def tokens_create(ente_slug: str | None, name: str) -> None:
    """Print a new service token once (only its hash is stored)."""
    from crm.entes import service

    async def work(s: Any) -> str:
        ente = await service.get_by_slug(s, ente_slug or get_settings().default_ente)
        if ente is None:
            raise click.ClickException("unknown ente")
        return await service.create_service_token(s, ente_id=ente.id, name=name)

    click.echo(run_async(with_session, work))


@main.group()
def operators() -> None:
    """Staff accounts."""


@operators.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True, help="at least 10 characters")
@click.option("--role", required=True, type=click.Choice(["admin", "operator", "phone_operator", "backoffice"]))
@click.option("--topics", default="", help="comma-separated topic slugs of competence")
@click.option("--full-name", default="")
@click.option("--ente", "ente_slug", default=None, help="default URP_DEFAULT_ENTE")
def operators_create(
    username: str, password: str, role: str, topics: str, full_name: str, ente_slug: str | None
) -> None:
    from pydantic import ValidationError

    from crm.core.auth import Principal
    from crm.core.commands import Context
    from crm.core.errors import ApiError
    from crm.entes import service as entes_service
    from crm.operators import commands
    from crm.operators.schemas import OperatorIn

    try:
        data = OperatorIn(
            username=username,
            password=password,
            role=role,
            full_name=full_name,  # type: ignore[arg-type]
            topics=[t for t in topics.split(",") if t],
        )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from None

    async def work(s: Any) -> int:
        settings = get_settings()
        ente = await entes_service.get_or_create(
            s, slug=ente_slug or settings.default_ente, name=settings.default_ente_name
        )
        cx = Context(principal=Principal.system(ente.id, "cli"), session=s)  # audited as the CLI; nobody to notify
        return (await commands.create(cx, data=data)).id

    try:
        click.echo(f"operator {username} id={run_async(with_session, work)}")
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


@main.group()
def demo() -> None:
    """Demo municipality."""


@demo.command("seed")
def demo_seed() -> None:
    """Load the demo municipality (idempotent: run it as often as you like)."""
    from crm.demo import seed

    for line in run_async(seed):
        click.echo(line)


def _dev_identity_provider(settings: Any, env: dict[str, str], procs: list[Any]) -> str | None:
    """In development, when no identity provider is configured: the demo OpenID provider (tests/oidc/provider.mjs)
    beside the CRM, so the sportello's SPID sign-in works on a fresh checkout. Returns its URL, or None."""
    from crm.citizens import devprovider
    from crm.citizens.config import get_citizen_settings

    citizen = get_citizen_settings()
    if settings.env != "development" or citizen.oidc_providers_file or not devprovider.available():
        return None
    dev = devprovider.write_config(
        Path(settings.var_dir) / "oidc",
        port=citizen.dev_oidc_port,
        public_url=settings.public_url,
        ente_slug=settings.default_ente,
    )
    env["URP_OIDC_PROVIDERS_FILE"] = str(dev.desk_config.resolve())
    procs.append(("oidc", subprocess.Popen(devprovider.command(dev), cwd=ROOT)))
    return dev.issuer


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def run(host: str | None, port: int | None) -> None:
    """Start every process of the system (CRM + hub, and Rasa + action server when installed) and print the URLs."""
    from channels.turn_token import secret_of

    settings = get_settings()
    settings.check_production()
    host = host or settings.host
    port = port or settings.port
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = dict(os.environ)
    oidc_url = _dev_identity_provider(settings, env, procs)
    procs.append(
        (
            "crm",
            subprocess.Popen([sys.executable, "-m", "crm.cli", "serve", "--host", host, "--port", str(port)], env=env),
        )
    )
    rasa = ROOT / ".venv-rasa" / "bin" / "rasa"
    models = sorted((ROOT / "models").glob("*.tar.gz")) if (ROOT / "models").exists() else []
    env.setdefault("URP_CRM_URL", f"http://{host}:{port}")
    if settings.service_token:
        env.setdefault("URP_SERVICE_TOKEN", settings.service_token.get_secret_value())
    # the action server trusts only turns the hub signed with this secret (it listens on loopback: actions/__init__)
    actions_env = {**env, "URP_ACTIONS_SECRET": secret_of(settings)}
    # one place says where the action server listens (URP_ACTIONS_URL): it, Rasa and the CRM's /health agree
    from urllib.parse import urlsplit

    actions_port = urlsplit(settings.actions_url).port or 5055
    rasa_port = urlsplit(settings.rasa_url).port or 5005
    procs.append(
        (
            "actions",
            subprocess.Popen(
                [sys.executable, "-m", "actions", "--port", str(actions_port)],
                env=actions_env,
                cwd=ROOT,
            ),
        )
    )
    if rasa.exists() and models:
        rasa_env = {**env, "URP_ACTIONS_URL": settings.actions_url, "RASA_PORT": str(rasa_port)}
        if settings.rasa_token:
            rasa_env["URP_RASA_TOKEN"] = settings.rasa_token.get_secret_value()
        procs.append(("rasa", subprocess.Popen(["bash", "scripts/rasa_run.sh"], env=rasa_env, cwd=ROOT)))

    def stop(*_: Any) -> None:
        for _, p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    public = settings.public_url.rstrip("/")
    click.echo("\nSportello URP is starting (the first start builds the knowledge base's index: a minute or two)…")
    started = time.monotonic()
    try:
        ready = _wait_ready(f"http://{host}:{port}/health", procs)
    except KeyboardInterrupt:
        stop()
        raise
    took = time.monotonic() - started
    click.echo(
        (
            f"\nSportello URP is ready ({took:.0f} s):\n"
            if ready
            else f"\nSportello URP is up but not every part is ready after {took:.0f} s (see /health):\n"
        )
        + f"  web chat demo     {public}/\n"
        f"  operator console  {public}/console/\n"
        f"  API + OpenAPI     {public}/api/v1/openapi.json\n"
        f"  health            {public}/health\n"
        + (
            f"  Rasa              {settings.rasa_url}\n"
            if any(n == "rasa" for n, _ in procs)
            else "  Rasa              not started (no .venv-rasa or no trained model: run `make train`)\n"
        )
        + (
            f"  Sportello digitale {public}/sportello/ (sign in with the demo provider {oidc_url}: Mario Rossi, "
            "Giuseppina Verdi or Luca Bianchi)\n"
            if oidc_url
            else f"  Sportello digitale {public}/sportello/\n"
        )
        + "Demo logins: admin / admin-demo-2026, operatore / operatore-demo-2026, centralino / centralino-demo-2026\n"
        "Ctrl-C stops everything.\n"
    )

    try:
        while all(p.poll() is None for _, p in procs):
            time.sleep(0.5)
        for name, p in procs:
            if p.poll() is not None:
                click.echo(f"{name} exited with {p.returncode}; stopping the others", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for _, p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def _wait_ready(health_url: str, procs: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 600) -> bool:
    """Until /health says every part a citizen's turn needs is up (the index built, Rasa's model loaded), so the
    URLs are printed when a first message gets its answer at once."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for _, p in procs):
        try:
            body = httpx.get(health_url, timeout=5).json()
            if body.get("status") == "ok":
                return True
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    return False


def _mount_module_commands() -> None:
    from crm.modules import MODULES, part

    for module in MODULES:
        cli = part(module, "cli")
        if cli is not None:
            main.add_command(cli.cli)


_mount_module_commands()

if __name__ == "__main__":
    main()
