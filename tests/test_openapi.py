"""The OpenAPI document against what the API answers: each body validated with the schema the document gives for
its operation and status (the fuzz test, tests/security/test_fuzz.py, does it for every operation at random)."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator


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
    ticket = client.post("/api/v1/requests", headers=admin, json={
        "contact_id": contact["id"], "kind": "information", "subject": "Orari", "description": "Quando aprite?"})
    assert ticket.status_code == 201, ticket.text
    conforms(doc, "post", "/api/v1/requests", ticket)
    got = client.get(f"/api/v1/requests/{ticket.json()['id']}", headers=admin)
    assert got.status_code == 200 and got.json()["events"], got.text
    conforms(doc, "get", "/api/v1/requests/{ticket_id}", got)
    missing = client.get("/api/v1/requests/999999999", headers=admin)
    assert missing.status_code == 404
    conforms(doc, "get", "/api/v1/requests/{ticket_id}", missing)
