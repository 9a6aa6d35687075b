"""The sportello's fixtures: a real OpenID provider process (node's oidc-provider, tests/oidc/provider.mjs) and a
desk server whose default ente has bookable services and istanze, trusting that provider."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.conftest import DB, ROOT, EnteCtx, Server, free_port, make_ente, start_server, wait_http

NODE_MODULES = ROOT / "node_modules" / "oidc-provider"


@dataclass
class Desk:
    url: str
    ente: EnteCtx
    oidc_issuer: str
    server: Server


def _required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("URP_REQUIRE_RASA") == "1"


@pytest.fixture(scope="module")
def oidc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oidc")


@pytest.fixture(scope="module")
def desk_env() -> dict[str, str]:
    """More environment for the desk server of a module (a module overrides this fixture, e.g. to turn on the
    scheduler and App IO)."""
    return {}


@pytest.fixture(scope="module")
def desk(
    db: DB, base_env: dict[str, str], oidc_dir: Path, desk_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    from crm.citizens import devprovider

    if not devprovider.available():
        if _required():
            pytest.fail("node and node_modules/oidc-provider are required here: run `make setup-console`")
        pytest.skip("node or node_modules/oidc-provider missing (`make setup-console` installs it)")
    ente = make_ente(db, slug=f"sportello-{os.getpid()}-{time.time_ns() % 10**8}")
    _seed(db, ente)
    port, op_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    dev = devprovider.write_config(oidc_dir, port=op_port, public_url=url, ente_slug=ente.slug)
    log = open(tmp_path_factory.mktemp("oplog") / "provider.log", "wb")
    op = subprocess.Popen(devprovider.command(dev), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = None
    try:
        wait_http(dev.issuer + "/.well-known/openid-configuration", proc=op)
        env = {
            **base_env,
            "URP_DEFAULT_ENTE": ente.slug,
            "URP_SCHEDULER_ENTES": ente.slug,
            "URP_DEFAULT_ENTE_NAME": "Comune di Prova",
            "URP_OIDC_PROVIDERS_FILE": str(dev.desk_config),
            "URP_PUBLIC_URL": url,
            "URP_MAP_TILES_URL": url + "/sportello/static/sp/tile.png",
            **{k: v.replace("{ente}", ente.slug) for k, v in desk_env.items()},
        }
        server = start_server(env, tmp_path_factory.mktemp("desklog") / "server.log", port=port)
        yield Desk(url=url, ente=ente, oidc_issuer=dev.issuer, server=server)
    finally:
        if server is not None:
            server.proc.terminate()
            server.proc.wait(timeout=10)
        op.terminate()
        op.wait(timeout=10)


def _seed(db: DB, ente: EnteCtx) -> None:
    from crm.bookings import service as bookings
    from crm.bookings.schemas import IntervalIn, LocationIn, ResourceIn, ServiceIn
    from crm.instances import service as instances
    from crm.instances.schemas import InstanceTypeIn

    async def work(s: Any) -> None:
        loc = await bookings.create_location(
            s, ente_id=ente.ente_id, data=LocationIn(name="Municipio", address="Piazza Grande 1")
        )
        res = [
            await bookings.create_resource(
                s, ente_id=ente.ente_id, data=ResourceIn(name=f"Sportello {i}", location_id=loc.id)
            )
            for i in (1, 2)
        ]
        svc = await bookings.create_service(
            s,
            ente_id=ente.ente_id,
            data=ServiceIn(
                slug="carta-identita",
                code_prefix="CI",
                name="Carta d'identità elettronica",
                office_id=ente.offices["ANAG"],
                kind="multi_resource",
                slot_minutes=30,
                min_notice_hours=1,
                horizon_days=30,
                cancel_deadline_hours=2,
                max_per_day_per_citizen=5,
                max_active_per_citizen=10,
                what_to_bring="una fototessera",
                resource_ids=[r.id for r in res],
                form_schema={
                    "type": "object",
                    "required": ["first_name", "last_name"],
                    "properties": {
                        "first_name": {"type": "string", "minLength": 1},
                        "last_name": {"type": "string", "minLength": 1},
                        "notes": {"type": "string", "maxLength": 500},
                    },
                },
            ),
        )
        await bookings.set_hours(
            s,
            ente_id=ente.ente_id,
            service_id=svc.id,
            hours=[IntervalIn(weekday=d, start=dtime(7), end=dtime(21)) for d in range(7)],
        )
        await instances.create_type(
            s,
            ente_id=ente.ente_id,
            data=InstanceTypeIn(
                slug="istanza-generica",
                title="Istanza generica",
                office_id=ente.offices["URP"],
                topic="urp",
                form_schema={
                    "type": "object",
                    "required": ["subject", "description"],
                    "properties": {
                        "subject": {"type": "string", "minLength": 1, "maxLength": 200, "title": "Oggetto"},
                        "description": {"type": "string", "minLength": 1, "maxLength": 5000, "title": "Descrizione"},
                    },
                },
                verified_identity_required=True,
            ),
        )

    db.run(work)


def sign_in(client: httpx.Client, desk: Desk, account: str = "mario.rossi", next_path: str = "") -> httpx.Response:
    """The whole authorization code flow against the real provider: the desk's redirect, the provider's login page
    (a form, as a person would submit it), the callback. Returns the desk's last answer."""
    r = client.get(desk.url + "/sportello/accesso/spid" + (f"?next={next_path}" if next_path else ""))
    for _ in range(10):
        if r.status_code in (302, 303):
            r = client.get(urljoin(str(r.url), r.headers["location"]))
            continue
        if r.status_code == 200 and "/interaction/" in str(r.url) and "Fornitore di identità di prova" in r.text:
            r = client.post(str(r.url), data={"account": account, "action": "login"})
            continue
        return r
    raise AssertionError("too many redirects in the sign-in flow")


async def mario_and_operator(s: Any, desk: Desk) -> tuple[Any, Any]:
    """Mario Rossi's contact as his SPID sign-in makes it, and the URP operator who records things for him: the seed
    the sportello's and the console's page tests start from."""
    from crm.citizens.oidc import VerifiedIdentity
    from crm.citizens.service import contact_for_identity
    from crm.core.auth import Principal

    contact = await contact_for_identity(
        s,
        ente_id=desk.ente.ente_id,
        ident=VerifiedIdentity(
            subject="x",
            fiscal_code="RSSMRA80A01H501U",
            given_name="Mario",
            family_name="Rossi",
            email=None,
            phone=None,
            acr="",
            level=2,
            provider="spid",
        ),
    )
    op = Principal(
        ente_id=desk.ente.ente_id, role="operator", operator_id=desk.ente.operator_ids["operator"], username="op"
    )
    return contact, op
