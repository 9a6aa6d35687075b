"""Schemathesis over the whole API, from its own OpenAPI document, as every principal: no request gets a 5xx, and
every response conforms to what the document says (status code, content type, body schema).

Passes: admin with the ids of real records of its ente in the path (so the fuzzer reaches the handlers' logic
instead of a 404) through schemathesis' *coverage* phase (boundary and invalid values for every parameter and body
field: huge numbers, NUL characters, wrong types, missing fields); admin with random ids (fuzzing: ids of any size);
before them, operator, phone operator, back office and service with real ids (fuzzing). Bounded: the coverage pass
by what it generates, each fuzzing pass by ``URP_FUZZ_SECONDS`` (default 20) and ``URP_FUZZ_EXAMPLES`` per
operation (default 8). The counts are printed (``-s`` shows them) and kept in ``fuzz-<database>.json`` under the
test server's var directory.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Server
from tests.security.scan import report

EXAMPLES = int(os.environ.get("URP_FUZZ_EXAMPLES", "8"))
FUZZ_SECONDS = int(os.environ.get("URP_FUZZ_SECONDS", "20"))  # per fuzzing pass
CAP_SECONDS = 300  # the coverage pass, a safety net only: it is bounded by what it generates
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PRINCIPALS = ("admin", "operator", "phone_operator", "backoffice", "service")
# (principal, real ids in the path, phases): the staff roles first, as the admin's changes (a role, a password)
# end other people's sessions
PASSES = [
    ("operator", True, "fuzzing"),
    ("phone_operator", True, "fuzzing"),
    ("backoffice", True, "fuzzing"),
    ("service", True, "fuzzing"),
    ("admin", True, "coverage"),
    ("admin", False, "fuzzing"),
]


def _seed(client: httpx.Client, ente_ctx, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One record of each kind in the ente, for the path parameters."""
    admin, svc_h = ente_ctx.headers("admin"), ente_ctx.headers("service")

    def post(path: str, body: dict[str, Any], headers: dict[str, str] = admin) -> dict[str, Any]:
        r = client.post(path, json=body, headers=headers)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()

    # PATCH /operators/{operator_id} changes roles and passwords: on an operator no pass signs in as
    target = post(
        "/api/v1/operators",
        {"username": f"bersaglio-{ente_ctx.slug}", "password": "password-bersaglio", "role": "operator"},
    )
    contact = post("/api/v1/contacts", {"first_name": "Fuzz", "last_name": "Seme", "phones": ["+39 345 000 1111"]})
    loc = post("/api/v1/locations", {"name": "Sede fuzz"})
    res = post("/api/v1/resources", {"name": "Sportello fuzz", "location_id": loc["id"]})
    svc = post(
        "/api/v1/services",
        {
            "slug": "fuzz",
            "code_prefix": "FZ",
            "name": "Servizio fuzz",
            "kind": "resource",
            "resource_ids": [res["id"]],
            "min_notice_hours": 1,
            "horizon_days": 60,
        },
    )
    assert (
        client.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=admin,
            json={"hours": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)]},
        ).status_code
        == 200
    )
    exc = post(
        f"/api/v1/services/{svc['id']}/exceptions",
        {"day": (date.today() + timedelta(days=40)).isoformat(), "closed": True},
    )
    cap = post("/api/v1/services", {"slug": "fuzz-cap", "code_prefix": "FC", "name": "Incontro", "kind": "capacity"})
    start = (date.today() + timedelta(days=10)).isoformat()
    event = post(
        f"/api/v1/services/{cap['id']}/events",
        {
            "title": "Incontro",
            "location_id": loc["id"],
            "start": f"{start}T10:00:00+01:00",
            "end": f"{start}T11:00:00+01:00",
            "seats": 50,
        },
    )
    free = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        headers=svc_h,
        params={
            "from": (date.today() + timedelta(days=3)).isoformat(),
            "to": (date.today() + timedelta(days=9)).isoformat(),
        },
    ).json()["items"]
    booking = post(
        "/api/v1/bookings", {"service_id": svc["id"], "start": free[0]["start"], "contact_id": contact["id"]}, svc_h
    )
    ticket = post(
        "/api/v1/requests",
        {
            "contact_id": contact["id"],
            "kind": "information",
            "subject": "Richiesta fuzz",
            "description": "Testo della richiesta",
        },
    )
    article = post(
        "/api/v1/kb/articles", {"slug": "fuzz", "title": "Articolo fuzz", "body": "Testo dell'articolo di prova."}
    )
    reply = post("/api/v1/quick-replies", {"shortcut": "fuzz", "title": "Risposta fuzz", "text": "Testo di prova."})
    itype = post("/api/v1/instance-types", {"slug": "fuzz", "title": "Istanza fuzz", "form_schema": {"type": "object"}})
    instance = post("/api/v1/instances", {"type": itype["slug"], "contact_id": contact["id"], "data": {}}, svc_h)
    att = client.post(
        f"/api/v1/instances/{instance['id']}/attachments",
        headers=svc_h,
        files={"file": ("documento.pdf", b"%PDF-1.4\n% fuzz\n", "application/pdf")},
    )
    assert att.status_code == 201, att.text

    async def conversation(s):  # type: ignore[no-untyped-def]
        from crm.conversations import service as conversations

        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=contact["id"],
            channel="web",
            text="Buongiorno",
            channel_message_id=None,
        )
        return conv.id

    return {
        "contact_id": contact["id"],
        "location_id": loc["id"],
        "resource_id": res["id"],
        "service_id": svc["id"],
        "exception_id": exc["id"],
        "event_id": event["id"],
        "booking_id": booking["id"],
        "booking_file": f"{booking['id']}.ics",
        "ticket_id": ticket["id"],
        "article_id": article["id"],
        "reply_id": reply["id"],
        "instance_id": instance["id"],
        "attachment_id": att.json()["id"],
        "slug": itype["slug"],
        "operator_id": target["id"],
        "conversation_id": db.run(conversation),
        "list_slug": "fuzz",
        "value": "fuzz",
    }


def _run(server: Server, token: str, report_dir: Path, ids: dict[str, Any] | None, phases: str) -> dict[str, Any]:
    report_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.url}/api/v1/openapi.json",
        "-H",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-time",
        str(CAP_SECONDS if phases == "coverage" else FUZZ_SECONDS),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "2",
        "--phases",
        phases,
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        "--suppress-health-check",
        "all",
        "--continue-on-failure",
        # the fuzzer must not end its own session (covered by tests/security/test_sessions.py)
        "--exclude-path",
        "/api/v1/auth/logout",
    ]
    cwd = report_dir
    if ids:
        (report_dir / "schemathesis.toml").write_text(
            "[parameters]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ids.items())
        )
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=CAP_SECONDS + 120,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    statuses: collections.Counter[int] = collections.Counter()
    operations: set[str] = set()
    failures: list[str] = []
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            done = event.get("ScenarioFinished")
            if not done:
                continue
            rec = done["recorder"]
            operations.add(rec["label"])
            for inter in rec.get("interactions", {}).values():
                if inter.get("response"):
                    statuses[inter["response"]["status_code"]] += 1
            for checks in rec.get("checks", {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        failures.append(
                            f"{rec['label']}: {check.get('name')}: "
                            f"{(check.get('failure_info') or {}).get('failure', {}).get('title', '')}"
                        )
    return {
        "returncode": proc.returncode,
        "operations": operations,
        "statuses": statuses,
        "failures": sorted(set(failures)),
        "tail": proc.stdout[-3000:] + proc.stderr[-2000:],
    }


def test_fuzz_every_operation_as_every_principal(
    server: Server,
    client: httpx.Client,
    ente_ctx,
    db,  # type: ignore[no-untyped-def]
    database_url: str,
    tmp_path: Path,
) -> None:
    ids = _seed(client, ente_ctx, db)
    tokens = {who: (ente_ctx.service_token if who == "service" else ente_ctx.tokens[who]) for who in PRINCIPALS}
    operations: set[str] = set()
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    runs = PASSES
    for who, known, phases in runs:
        out = _run(
            server, tokens[who], tmp_path / f"{who}-{'known' if known else 'random'}", ids if known else None, phases
        )
        assert out["operations"], out["tail"]
        operations |= out["operations"]
        statuses.update(out["statuses"])
        failures += [f"[{who}] {f}" for f in out["failures"]]
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    doc = client.get("/api/v1/openapi.json").json()
    unreached = sorted({f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops} - operations)
    requests = sum(statuses.values())
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    summary = {
        "database": backend,
        "operations": len(operations),
        "requests": requests,
        "5xx": server_errors,
        "statuses": dict(sorted(statuses.items())),
        "conformance_failures": len(failures),
        "unreached": unreached,
        "examples_per_operation": EXAMPLES,
        "seconds_per_fuzzing_pass": FUZZ_SECONDS,
        "passes": len(runs),
    }
    report(
        f"fuzz [{backend}]: {len(operations)} operations, {requests} requests, {server_errors} x 5xx, "
        f"{len(failures)} conformance failures; statuses {dict(sorted(statuses.items()))}; not reached: {unreached}"
    )
    Path(server.env["URP_VAR_DIR"], f"fuzz-{backend}.json").write_text(json.dumps(summary, indent=1))
    assert server_errors == 0, failures
    assert not failures, "\n".join(failures[:40])
