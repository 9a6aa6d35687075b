"""Italian and Rome time everywhere: every console page each role can reach, filled with realistic data (a
handed-off chat with replies, a request, a booking, an istanza decided by the office), is scanned for English enum
values and for UTC times, with records stamped on both sides of a daylight-saving change; the istanza receipt PDF
likewise; and every sportello page a signed-in citizen reaches (their booking, request, conversation, the lists and
forms), through the real identity provider."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from pypdf import PdfReader

from crm.core.labels import actor, english_values, label, local
from tests.conftest import VALID_CF
from tests.console.test_console import login
from tests.console.test_console_screens import _book_api, _free, _service
from tests.sportello.conftest import desk, desk_env, mario_and_operator, oidc_dir, sign_in  # noqa: F401  (fixtures: the sportello's)
from tests.sportello.test_desk import book

# the night Rome moves its clocks forward (29 March 2026, 02:00 CET -> 03:00 CEST)
BEFORE_DST = datetime(2026, 3, 28, 23, 15, tzinfo=UTC)  # 00:15 in Rome (CET, +1)
AFTER_DST = datetime(2026, 3, 29, 12, 5, tzinfo=UTC)  # 14:05 in Rome (CEST, +2)
# stored values that are also ordinary Italian or product words on a page
ALSO_ITALIAN = {"web", "bot", "email", "phone", "counter", "sportello", "appio", "contact", "service", "note"}
ENGLISH = sorted(english_values() - ALSO_ITALIAN, key=len, reverse=True)
WORDS = re.compile(r"(?<![\w/.-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![\w/-])")
ACCESSO_ATTI = {
    "slug": "accesso-atti",
    "title": "Accesso agli atti",
    "form_schema": {
        "type": "object",
        "required": ["documents", "reason"],
        "properties": {
            "documents": {"type": "string", "title": "Documenti richiesti"},
            "reason": {"type": "string", "title": "Motivazione"},
            "needed_by": {"type": "string", "format": "date", "title": "Serve entro il"},
        },
    },
}


class _Text(HTMLParser):
    """The words a person reads (text, not markup, scripts or attribute values) and the links under ``prefix``."""

    def __init__(self, prefix: str = "/console/") -> None:
        super().__init__()
        self.prefix = prefix
        self.parts: list[str] = []
        self.links: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith(self.prefix) and not re.search(r"/static/|logout|/accesso/", href):
            self.links.append(href.split("#")[0])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _read(page: str, prefix: str = "/console/") -> tuple[str, list[str]]:
    p = _Text(prefix)
    p.feed(page)
    return " ".join(" ".join(p.parts).split()), p.links


def _world(client: httpx.Client, ente_ctx, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A day's work of a URP office, set up through the API and the services; then the stored times are moved to
    both sides of the DST change (a set-up, as a clock would have stamped them)."""
    from sqlalchemy import update

    from crm.conversations import service as conversations
    from crm.conversations.models import Conversation, Message
    from crm.instances.models import Instance
    from crm.tickets.models import Ticket

    op, svc_h = ente_ctx.headers("operator"), ente_ctx.headers("service")
    cid = client.post(
        "/api/v1/contacts",
        json={"first_name": "Maria", "last_name": "Bianchi", "fiscal_code": VALID_CF, "phones": ["+39 347 5550001"]},
        headers=op,
    ).json()["id"]

    async def chat(s):  # type: ignore[no-untyped-def]
        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="Vorrei parlare con un operatore",
            channel_message_id=None,
        )
        return conv.id

    conv_id = db.run(chat)
    assert (
        client.post(
            f"/api/v1/conversations/{conv_id}/handoff",
            headers=svc_h,
            json={"topic": "urp", "summary": "Chiede dei documenti"},
        ).status_code
        == 200
    )
    assert client.post(f"/api/v1/conversations/{conv_id}/take", headers=op).status_code == 200
    assert client.post(
        f"/api/v1/conversations/{conv_id}/messages", headers=op, json={"text": "Buongiorno, sono Giulia dell'URP."}
    ).status_code in (200, 201)
    ticket = client.post(
        "/api/v1/requests", headers=op, json={"contact_id": cid, "kind": "complaint", "subject": "Buca in via Roma"}
    ).json()
    svc = _service(client, ente_ctx)
    booking = _book_api(client, ente_ctx, svc, cid, _free(client, ente_ctx, svc)[0])
    admin = ente_ctx.headers("admin")
    assert (
        client.post(
            "/api/v1/instance-types", headers=admin, json={**ACCESSO_ATTI, "office_id": ente_ctx.offices["ANAG"]}
        ).status_code
        == 201
    )
    inst = client.post(
        "/api/v1/instances",
        headers=svc_h,
        json={
            "type": "accesso-atti",
            "contact_id": cid,
            "data": {"documents": "Delibera 12/2026", "reason": "Ricorso", "needed_by": "2026-04-30"},
        },
    ).json()
    url = f"/api/v1/instances/{inst['id']}/transition"
    bo = ente_ctx.headers("backoffice")
    assert client.post(url, json={"to": "in_charge"}, headers=bo).status_code == 200
    assert client.post(url, json={"to": "accepted", "note": "Copia pronta"}, headers=bo).status_code == 200

    async def stamp(s):  # type: ignore[no-untyped-def]
        ids = (
            await s.scalars(
                Message.__table__.select()
                .with_only_columns(Message.id)
                .where(Message.conversation_id == conv_id)
                .order_by(Message.id)
            )
        ).all()
        await s.execute(update(Message).where(Message.id == ids[0]).values(created_at=BEFORE_DST))
        await s.execute(update(Message).where(Message.id.in_(ids[1:])).values(created_at=AFTER_DST))
        await s.execute(update(Conversation).where(Conversation.id == conv_id).values(created_at=BEFORE_DST))
        await s.execute(update(Ticket).where(Ticket.id == ticket["id"]).values(created_at=AFTER_DST))
        await s.execute(update(Instance).where(Instance.id == inst["id"]).values(created_at=BEFORE_DST))

    db.run(stamp)
    return {
        "contact": cid,
        "conversation": conv_id,
        "ticket": ticket["id"],
        "booking": booking["id"],
        "instance": inst["id"],
        "code": inst["code"],
    }


def _crawl(c: httpx.Client, start: list[str], limit: int = 45, prefix: str = "/console/") -> dict[str, str]:
    """Every page under ``prefix`` reachable from ``start`` by links (one of each path shape), as this client (a
    role, a citizen) sees it."""
    seen: dict[str, str] = {}
    shapes: set[str] = set()
    todo = list(start)
    while todo and len(seen) < limit:
        url = todo.pop(0)
        shape = re.sub(r"\d+", "N", url.split("?")[0])
        if url in seen or (shape in shapes and url not in start):
            continue
        r = c.get(url)
        if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
            continue
        shapes.add(shape)
        text, links = _read(r.text, prefix)
        seen[url] = text
        todo += [u for u in links if u not in seen]
    return seen


# a topic whose code is not its name: the code must never reach a screen (the name does)
TOPIC_CODE, TOPIC_NAME = "cod-ambito-prova", "Ambito di prova"


def _topic_world(client: httpx.Client, ente_ctx, db, contact_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    """A topic whose code differs from its name, on what shows a topic: a handed-off chat (with the assistant's
    collected slots naming it, as the bot's hand-off context does), a request, a knowledge-base article and its
    earlier version. Returns their console pages."""
    from crm.conversations import service as conversations

    admin, op, svc_h = ente_ctx.headers("admin"), ente_ctx.headers("operator"), ente_ctx.headers("service")
    made = client.post(
        "/api/v1/topics",
        headers=admin,
        json={"office_id": ente_ctx.offices["URP"], "slug": TOPIC_CODE, "name": TOPIC_NAME},
    )
    assert made.status_code == 201, made.text

    async def chat(s):  # type: ignore[no-untyped-def]
        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=contact_id,
            channel="web",
            text="Una domanda",
            channel_message_id=None,
        )
        return conv.id

    conv_id = db.run(chat)
    context = {"reason": "asked by the citizen", "slots": {"service": TOPIC_CODE, "booking_service": TOPIC_CODE}}
    handed = client.post(
        f"/api/v1/conversations/{conv_id}/handoff",
        headers=svc_h,
        json={"topic": TOPIC_CODE, "summary": "Chiede informazioni", "context": context},
    )
    assert handed.status_code == 200, handed.text
    ticket = client.post(
        "/api/v1/requests",
        headers=op,
        json={"contact_id": contact_id, "kind": "information", "subject": "Orari", "topic": TOPIC_CODE},
    )
    assert ticket.status_code == 201, ticket.text
    article = client.post(
        "/api/v1/kb/articles",
        headers=admin,
        json={
            "slug": "orari-prova",
            "title": "Orari di prova",
            "body": "Gli orari dello sportello di prova.",
            "topic": TOPIC_CODE,
            "valid_from": "2026-05-01",
            "valid_until": "2027-04-30",
        },
    )
    assert article.status_code == 201, article.text
    aid = article.json()["id"]
    edited = client.patch(f"/api/v1/kb/articles/{aid}", headers=admin, json={"title": "Orari dello sportello di prova"})
    assert edited.status_code == 200, edited.text
    return [
        f"/console/conversations/{conv_id}",
        f"/console/requests/{ticket.json()['id']}",
        f"/console/kb/{aid}",
        f"/console/kb/{aid}/versions/1",
    ]


def test_no_english_value_or_utc_time_on_any_console_page(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    w = _world(client, ente_ctx, db)
    topic_pages = _topic_world(client, ente_ctx, db, w["contact"])
    details = [
        f"/console/conversations/{w['conversation']}",
        f"/console/contacts/{w['contact']}",
        f"/console/requests/{w['ticket']}",
        f"/console/instances/{w['instance']}",
    ]
    leaks: list[str] = []
    for role in ("admin", "operator", "phone_operator", "backoffice"):
        c = login(server, ente_ctx, role)
        pages = _crawl(c, ["/console/", "/console/inbox?view=mine", "/console/inbox?view=open", *details, *topic_pages])
        assert len(pages) >= (20 if role == "admin" else 8), (role, sorted(pages))  # the crawl did reach them
        for url, text in pages.items():
            for name in ente_ctx.usernames.values():
                text = text.replace(name, "")
            leaks += [
                f"{role} {url}: {m.group(0)!r} in …{text[max(0, m.start() - 40) : m.end() + 40]}…"
                for m in WORDS.finditer(text)
            ]
            if re.search(r"\bUTC\b", text):
                leaks.append(f"{role} {url}: UTC")
            for m in re.finditer(r"\b\d{4}-\d{2}-\d{2}\b", text):  # an ISO date where 30/04/2027 belongs
                leaks.append(f"{role} {url}: ISO date in …{text[max(0, m.start() - 60) : m.end() + 20]}…")
            if "service:" in text:  # a service account's technical name (the istanza sent in through the API)
                leaks.append(f"{role} {url}: service:")
            if TOPIC_CODE in text:  # a topic's code where its name belongs
                i = text.index(TOPIC_CODE)
                leaks.append(f"{role} {url}: topic code in …{text[max(0, i - 60) : i + 40]}…")
            if role == "operator" and url == details[0]:
                # the citizen wrote at 00:15 CET, the operator answered at 14:05 CEST, the same Sunday
                assert "29/03 00:15" in text and "29/03 14:05" in text, text
                assert "23:15" not in text and "12:05" not in text
                assert "inviato" in text or "in invio" in text or "consegnato" in text
            if role == "backoffice" and url == details[3]:
                assert "30/04/2026" in text and "2026-04-30" not in text, text  # the istanza's date answer
            if role == "operator" and url == details[1]:
                assert "29/03/2026 00:15" in text, text  # the conversation in the history, on Rome's clock
    assert not leaks, "\n".join(leaks)


def test_no_english_value_or_utc_time_on_any_sportello_page(desk, db) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The citizen's side: signed in through the provider, with a booking made on the desk, a request and a
    conversation stamped on both sides of the DST change; every page reachable by links, as the citizen reads it."""
    from sqlalchemy import select, update

    from crm.conversations import service as conversations
    from crm.conversations.models import Message
    from crm.tickets import service as tickets
    from crm.tickets.models import Ticket
    from crm.tickets.schemas import TicketIn

    with httpx.Client(base_url=desk.url, timeout=30, follow_redirects=False) as c:
        assert sign_in(c, desk).status_code == 200
        booking = book(c, desk)

        async def seed(s):  # type: ignore[no-untyped-def]
            from crm.offices import service as offices
            from crm.offices.schemas import TopicIn

            contact, op = await mario_and_operator(s, desk)
            await offices.create_topic(
                s,
                ente_id=desk.ente.ente_id,
                data=TopicIn(office_id=desk.ente.offices["URP"], slug=TOPIC_CODE, name=TOPIC_NAME),
            )
            t = await tickets.create(
                s,
                principal=op,
                data=TicketIn(
                    contact_id=contact.id,
                    kind="complaint",
                    channel="phone",
                    subject="Buca in via Roma",
                    topic=TOPIC_CODE,
                ),
            )
            conv, _, _ = await conversations.record_inbound(
                s,
                ente_id=desk.ente.ente_id,
                contact_id=contact.id,
                channel="web",
                text="Buonasera, la buca in via Roma è ancora lì",
                channel_message_id=f"web-italian-{contact.id}",
            )
            await s.flush()
            await s.execute(update(Ticket).where(Ticket.id == t.id).values(created_at=AFTER_DST))
            ids = (await s.scalars(select(Message.id).where(Message.conversation_id == conv.id))).all()
            await s.execute(update(Message).where(Message.id.in_(ids)).values(created_at=BEFORE_DST))
            return t.id, conv.id

        ticket_id, conv_id = db.run(seed)
        start = [
            "/sportello/",
            "/sportello/area-personale",
            f"/sportello/area-personale/prenotazioni/{booking}",
            f"/sportello/area-personale/richieste/{ticket_id}",
            f"/sportello/area-personale/conversazioni/{conv_id}",
            "/sportello/istanze",
            "/sportello/segnala",
            "/sportello/prenota",
        ]
        pages = _crawl(c, start, limit=40, prefix="/sportello/")
    assert len(pages) >= 12, sorted(pages)  # the crawl did reach them
    leaks: list[str] = []
    for url, text in pages.items():
        leaks += [
            f"{url}: {m.group(0)!r} in …{text[max(0, m.start() - 40) : m.end() + 40]}…" for m in WORDS.finditer(text)
        ]
        if re.search(r"\bUTC\b", text):
            leaks.append(f"{url}: UTC")
        if TOPIC_CODE in text:  # the request's topic by its code
            leaks.append(f"{url}: topic code {TOPIC_CODE}")
        leaks += [f"{url}: ISO date {m.group(0)}" for m in re.finditer(r"\b\d{4}-\d{2}-\d{2}\b", text)]
    assert not leaks, "\n".join(leaks)
    # the request was sent at 14:05 in Rome (12:05 UTC), the message at 00:15 (23:15 UTC the day before)
    ticket_page = pages[start[3]]
    assert "29/03/2026 14:05" in ticket_page and "12:05" not in ticket_page, ticket_page
    conv_page = pages[start[4]]
    assert "29/03/2026 00:15" in conv_page and "23:15" not in conv_page, conv_page


def test_receipt_pdf_is_italian_on_rome_time(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    w = _world(client, ente_ctx, db)
    r = client.get(f"/api/v1/instances/{w['instance']}/receipt.pdf", headers=ente_ctx.headers("backoffice"))
    assert r.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    flat = " ".join(text.split())
    assert "Stato Accolta" in flat and "Presentata il 29/03/2026 00:15" in flat, flat
    assert "Documenti richiesti: Delibera 12/2026" in flat and "Motivazione: Ricorso" in flat
    assert "Serve entro il: 30/04/2026" in flat
    for english in ("accepted", "documents:", "reason:", "needed_by", "2026-04-30", "23:15", "UTC"):
        assert english not in flat, (english, flat)


def test_labels_and_local_times() -> None:
    assert (
        label("instance_status", "accepted") == "Accolta" and label("role", "phone_operator") == "Operatore telefonico"
    )
    assert label("delivery", None) == "—" and label("priority", "urgentissima") == "urgentissima"  # admin's own word
    assert local(BEFORE_DST, "Europe/Rome") == "29/03/2026 00:15"
    assert local(AFTER_DST, "Europe/Rome") == "29/03/2026 14:05"
    assert local(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Europe/Rome", "%H:%M") == "02:30"  # still CEST
    assert local(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/Rome", "%H:%M") == "02:30"  # CET again
    assert local(datetime(2026, 3, 28, 23, 15), "Europe/Rome") == "29/03/2026 00:15"  # a naive time is UTC
    assert {"accepted", "phone_operator", "sent", "confirmed", "operator"} <= english_values()
    assert actor("service:sportello") == "sistema" and actor("service") == "sistema" and actor("m.rossi") == "m.rossi"


def test_messages_to_the_citizen_are_italian_on_rome_time(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    """What the citizen receives by SMS or e-mail (the outbox): the booking's time on Rome's clock, no English value."""
    from sqlalchemy import select

    from crm.notifications.models import Notification

    w = _world(client, ente_ctx, db)

    async def outbox(s):  # type: ignore[no-untyped-def]
        rows = await s.scalars(select(Notification).where(Notification.contact_id == w["contact"]))
        return [(n.kind, f"{n.subject} {n.text}") for n in rows]

    sent = db.run(outbox)
    kinds = {k for k, _ in sent}
    assert "booking.confirmed" in kinds and any(k.startswith("instance.") for k in kinds), kinds
    start = datetime.fromisoformat(
        client.get(f"/api/v1/bookings/{w['booking']}", headers=ente_ctx.headers("admin")).json()["start"]
    )
    confirmed = next(t for k, t in sent if k == "booking.confirmed")
    assert local(start, "Europe/Rome", "%d/%m/%Y") in confirmed and local(start, "Europe/Rome", "%H:%M") in confirmed
    leaks = [(k, m.group(0)) for k, t in sent for m in WORDS.finditer(t)]
    assert not leaks and not any(re.search(r"\bUTC\b", t) for _, t in sent), (leaks, sent)
