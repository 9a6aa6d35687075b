"""SPID/CIE sign-in through OpenID Connect against a real provider process: code + PKCE, signed request object,
private_key_jwt, signed and encrypted userinfo; the verified identity links to the contact; sessions are
server-side (logout everywhere), throttled, and never accepted twice from one callback."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
from sqlalchemy import select

from tests.conftest import DB
from tests.sportello.conftest import Desk, sign_in


def test_sign_in_links_the_verified_identity_to_the_contact(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as c:
        r = sign_in(c, desk)
        assert r.status_code == 200, r.text[:500]
        assert str(r.url).endswith("/sportello/area-personale")
        assert "Area personale" in r.text and "RSSMRA80A01H501U" in r.text
        cookie = next(ck for ck in c.cookies.jar if ck.name == "urp_citizen")
        assert cookie.has_nonstandard_attr("HttpOnly") and "lax" in str(cookie._rest.get("SameSite", "")).lower()
        cookie_sid, _, cookie_mac = str(cookie.value).partition(".")
        # the id alone (what the database holds) is not a cookie: without the HMAC the desk does not know it
        with httpx.Client(timeout=30, cookies={"urp_citizen": cookie_sid}) as forged:
            assert forged.get(desk.url + "/sportello/area-personale").status_code == 303
        assert len(cookie_mac) == 32

    async def check(s: Any) -> tuple[Any, ...]:
        from crm.audit.models import AuditEntry
        from crm.citizens.models import CitizenSession
        from crm.contacts.models import Contact
        from crm.core.sessions import AuthSession

        contact = await s.scalar(
            select(Contact).where(Contact.ente_id == desk.ente.ente_id, Contact.fiscal_code == "RSSMRA80A01H501U")
        )
        sess = await s.scalar(select(CitizenSession).where(CitizenSession.sid == cookie_sid))
        shared = await s.get(AuthSession, cookie_sid)
        audit = (
            await s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.ente_id == desk.ente.ente_id, AuditEntry.actor_kind == "citizen"
                )
            )
        ).all()
        return contact, sess, shared, audit

    contact, sess, shared, audit = db.run(check)
    assert contact.verified_identity and contact.first_name == "Mario" and contact.last_name == "Rossi"
    assert [e.email for e in contact.emails] == ["mario.rossi@example.org"]
    assert [p.e164 for p in contact.phones] == ["+393331234567"]
    assert sess.level == 2 and sess.acr == "https://www.spid.gov.it/SpidL2" and sess.contact_id == contact.id
    # the session is a row of the shared sessions table, as an operator's is
    assert (shared.kind, shared.subject_id, shared.revoked_at) == ("citizen", contact.id, None)
    assert "sign_in" in audit and "read" in audit  # the area personale's read is audited too


def test_the_authorization_request_is_signed_with_pkce(desk: Desk) -> None:
    with httpx.Client(timeout=30) as c:
        r = c.get(desk.url + "/sportello/accesso/spid")
        assert r.status_code == 303
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert q["code_challenge_method"] == ["S256"] and q["response_type"] == ["code"]
        from joserfc import jws

        header = jws.extract_compact(q["request"][0].encode()).protected
        assert header["alg"] == "RS256" and header["kid"] == "rp-sig"


def test_a_callback_is_accepted_once_and_only_in_its_browser(desk: Desk) -> None:
    with httpx.Client(timeout=30) as c:
        r = c.get(desk.url + "/sportello/accesso/spid")
        while r.status_code in (302, 303) and "/callback" not in r.headers["location"]:
            r = c.get(urljoin(str(r.url), r.headers["location"]))
            if r.status_code == 200 and "/interaction/" in str(r.url):
                r = c.post(str(r.url), data={"account": "luca.bianchi", "action": "login"})
        callback = urljoin(str(r.url), r.headers["location"])
        with httpx.Client(timeout=30) as stranger:  # the same callback replayed from another browser
            bad = stranger.get(callback)
            assert bad.status_code == 400 and "non è valida" in bad.text
        # the pending sign-in was consumed by the stranger's attempt: the real browser must start again
        again = c.get(callback)
        assert again.status_code == 400 and "urp_citizen" not in {ck.name for ck in c.cookies.jar}


def test_cancelled_sign_in_and_logout_everywhere(desk: Desk, db: DB) -> None:
    with httpx.Client(timeout=30) as c:
        r = c.get(desk.url + "/sportello/accesso/spid")
        for _ in range(6):
            if r.status_code in (302, 303):
                r = c.get(urljoin(str(r.url), r.headers["location"]))
            elif "/interaction/" in str(r.url):
                r = c.post(str(r.url), data={"action": "abort"})
            else:
                break
        assert r.status_code == 400 and "Accesso annullato" in r.text

    phone, laptop = httpx.Client(timeout=30), httpx.Client(timeout=30)
    with phone, laptop:
        assert sign_in(phone, desk, "giuseppina.verdi").status_code == 200
        assert sign_in(laptop, desk, "giuseppina.verdi").status_code == 200
        page = laptop.get(desk.url + "/sportello/area-personale")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        sids = [
            str(ck.value).partition(".")[0]
            for cl in (phone, laptop)
            for ck in cl.cookies.jar
            if ck.name == "urp_citizen"
        ]
        out = laptop.post(desk.url + "/sportello/esci", data={"csrf": csrf, "everywhere": "1"})
        assert out.status_code == 303
        # the phone's session ended too: the area personale sends it to the sign-in page
        assert phone.get(desk.url + "/sportello/area-personale").status_code == 303

    async def revoked(s: Any) -> list[str]:
        from crm.core.sessions import AuthSession

        return [(await s.get(AuthSession, sid)).revoked_why for sid in sids]

    # revoked in the shared table, with the reason an operator's logout would have
    assert db.run(revoked) == ["logout everywhere", "logout everywhere"]


def test_forms_need_the_csrf_token(desk: Desk) -> None:
    with httpx.Client(timeout=30) as c:
        sign_in(c, desk)
        r = c.post(desk.url + "/sportello/esci", data={"everywhere": "1"})
        assert r.status_code == 403 and "non è valido" in r.text
        r = c.post(desk.url + "/sportello/valutazione", data={"stars": "5", "csrf": "x" * 40})
        assert r.status_code == 403
