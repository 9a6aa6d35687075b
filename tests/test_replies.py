"""Quick replies (risposte rapide) through the API: admins write them per ente and topic, every operator reads them;
another ente's are not found; the shortcut is unique in the ente."""

from __future__ import annotations

import httpx


def _create(client: httpx.Client, ente_ctx, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    return client.post("/api/v1/quick-replies", json=body, headers=ente_ctx.headers("admin"))


def test_admins_write_operators_read_by_topic(client: httpx.Client, ente_ctx, other_ente) -> None:  # type: ignore[no-untyped-def]
    anag = ente_ctx.topics["anagrafe"]
    r = _create(client, ente_ctx, shortcut="/Ciao ", title="Saluto", text="Buongiorno,\r\ncome posso aiutarla?")
    assert r.status_code == 201, r.text
    general = r.json()
    assert general["shortcut"] == "ciao" and general["text"] == "Buongiorno,\ncome posso aiutarla?"
    assert general["topic_id"] is None
    cie = _create(client, ente_ctx, shortcut="cie", title="Carta d'identità", text="Su appuntamento.", topic_id=anag)
    assert cie.status_code == 201, cie.text

    # the shortcut is unique in the ente; an unknown topic is refused; operators may not write
    dup = _create(client, ente_ctx, shortcut="ciao", title="Altro", text="x")
    assert dup.status_code == 409 and "shortcut" in dup.json()["error"]["fields"]
    assert _create(client, ente_ctx, shortcut="x", title="x", text="x", topic_id=10**8).status_code == 404
    bad = _create(client, ente_ctx, shortcut="con spazi", title="x", text="x")
    assert bad.status_code == 422 and "shortcut" in bad.json()["error"]["fields"]
    denied = client.post(
        "/api/v1/quick-replies",
        json={"shortcut": "y", "title": "y", "text": "y"},
        headers=ente_ctx.headers("operator"),
    )
    assert denied.status_code == 403

    def shortcuts(**params: object) -> list[str]:
        got = client.get("/api/v1/quick-replies", params=params, headers=ente_ctx.headers("operator"))
        assert got.status_code == 200, got.text
        return [i["shortcut"] for i in got.json()["items"]]

    assert shortcuts() == ["ciao", "cie"]
    assert shortcuts(topic_id=anag) == ["ciao", "cie"]
    assert shortcuts(topic_id=ente_ctx.topics["urp"]) == ["ciao"]
    assert shortcuts(q="ci") == ["ciao", "cie"]
    assert shortcuts(q="identità") == ["cie"]
    assert shortcuts(q="%") == []

    # edit and delete; another ente sees none of it
    rid = general["id"]
    p = client.patch(f"/api/v1/quick-replies/{rid}", json={"text": "Salve!"}, headers=ente_ctx.headers("admin"))
    assert p.status_code == 200 and p.json()["text"] == "Salve!" and p.json()["shortcut"] == "ciao"
    assert client.get(f"/api/v1/quick-replies/{rid}", headers=other_ente.headers("admin")).status_code == 404
    assert client.delete(f"/api/v1/quick-replies/{rid}", headers=other_ente.headers("admin")).status_code == 404
    d = client.delete(f"/api/v1/quick-replies/{rid}", headers=ente_ctx.headers("admin"))
    assert d.status_code == 200 and d.json() == {"deleted": rid}
    assert shortcuts() == ["cie"]
