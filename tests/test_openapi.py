"""The OpenAPI document against what the API answers: each body validated with the schema the document gives for
its operation and status (the fuzz test, tests/security/test_fuzz.py, does it for every operation at random)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.conftest import ROOT, Server


def conforms(doc: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """Fails unless ``response`` is documented for the operation and its body matches the documented schema."""
    documented = doc["paths"][path][method]["responses"]
    entry = documented.get(str(response.status_code)) or documented["default"]
    schema = entry["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.json())]
    assert not errors, (method, path, response.status_code, errors[:5])


def test_a_request_with_its_history_matches_its_schema(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    """Two domains name a model EventOut (a request's history line, a booking's capacity event): each keeps its own
    component, so a request's history is checked against the request's model."""
    admin = ente_ctx.headers("admin")
    doc = client.get("/api/v1/openapi.json").json()
    contact = client.post("/api/v1/contacts", headers=admin, json={"first_name": "Anna", "last_name": "Schema"}).json()
    ticket = client.post(
        "/api/v1/requests",
        headers=admin,
        json={"contact_id": contact["id"], "kind": "information", "subject": "Orari", "description": "Quando aprite?"},
    )
    assert ticket.status_code == 201, ticket.text
    conforms(doc, "post", "/api/v1/requests", ticket)
    got = client.get(f"/api/v1/requests/{ticket.json()['id']}", headers=admin)
    assert got.status_code == 200 and got.json()["events"], got.text
    conforms(doc, "get", "/api/v1/requests/{ticket_id}", got)
    missing = client.get("/api/v1/requests/999999999", headers=admin)
    assert missing.status_code == 404
    conforms(doc, "get", "/api/v1/requests/{ticket_id}", missing)


def _api_operations(env: dict[str, str]) -> set[tuple[str, str]]:
    """Every (method, path) under /api/v1 in the app's router, built in a separate process as `urp serve` builds it."""
    code = (
        "import json, re\n"
        "from crm.app import create_app\n"
        "app = create_app(name='openapi_routes')\n"
        "out = [[m.lower(), re.sub(r'<(\\w+)(?::[^>]*)?>', r'{\\1}', '/' + r.path)]\n"
        "       for r in app.router.routes for m in r.methods if m not in ('HEAD', 'OPTIONS')]\n"
        "print(json.dumps([o for o in out if o[1].startswith('/api/v1/')]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return {(m, p) for m, p in json.loads(done.stdout.strip().splitlines()[-1])}


def test_every_operation_documents_its_bodies(server: Server, client: httpx.Client) -> None:
    """Every operation of the router is in the document with a schema for its success body (JSON: a model's
    component; otherwise its media types; 204 alone has none), and every error status with the one error model."""
    doc = client.get("/api/v1/openapi.json").json()
    components = doc["components"]["schemas"]
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    routed = _api_operations(server.env)
    assert routed and routed == documented, (sorted(routed - documented), sorted(documented - routed))
    missing, errors = [], []
    for method, path in sorted(documented):
        responses = doc["paths"][path][method]["responses"]
        success = {code: r for code, r in responses.items() if code.startswith("2")}
        if not success or any(code != "204" and not r.get("content") for code, r in success.items()):
            missing.append(f"{method.upper()} {path}")
        for code, r in success.items():
            for media, content in r.get("content", {}).items():
                ref = content["schema"].get("$ref", "")
                if media == "application/json" and ref.rsplit("/", 1)[-1] not in components:
                    missing.append(f"{method.upper()} {path} {code}: {content['schema']}")
        for code, r in responses.items():
            if code == "default" or code[0] in "45":
                schema = r["content"]["application/json"]["schema"]
                if schema != {"$ref": "#/components/schemas/ErrorOut"}:
                    errors.append(f"{method.upper()} {path} {code}: {schema}")
    assert not missing, f"{len(missing)} of {len(documented)} operations without a success body schema: {missing}"
    assert not errors, errors
    error = components["ErrorOut"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
