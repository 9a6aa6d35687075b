"""The citizen sees that an operator is writing (issue 15 item 2): the workspace's composer sends a throttled hint
(POST /console/conversations/<id>/typing), the hub passes it on: "L'operatore sta scrivendo…" on the web chat's
socket, Telegram's sendChatAction "typing". Only from whoever may reply now (the assignee, an admin), and only to a
conversation an operator holds. The server and fakes of test_who_is_talking (no Rasa: the first message is handed
off)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.channels.test_who_is_talking import HOLDING, Desk, _n, _tg, _tg_to, _waiting, desk  # noqa: F401
from tests.console.test_console import csrf, login
from tests.console.test_workspace_browser import Citizen


def _typing(op: httpx.Client, conv: int) -> int:
    token = csrf(op.get(f"/console/conversations/{conv}").text)
    r = op.post(
        f"/console/conversations/{conv}/typing", data={"csrf": token}, headers={"X-Requested-With": "workspace"}
    )
    return r.status_code


def _chat_actions(desk: Desk, chat: int) -> list[dict[str, Any]]:
    return [r for r in desk.telegram.requests if r.get("method") == "sendChatAction" and r.get("chat_id") == chat]


def test_telegram_shows_typing_while_the_assignee_writes(desk: Desk) -> None:
    user = 7_100_000 + next(_n)
    _tg(desk, user, "Vorrei parlare con una persona")
    _tg_to(desk, user, HOLDING)
    conv = _waiting(desk, "telegram")
    mario = login(desk.crm, desk.ente)
    assert _typing(mario, conv) == 204  # waiting: nobody holds it, nothing is said
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    assert _typing(login(desk.crm, desk.ente, "operator2"), conv) == 204  # not theirs: nothing either
    time.sleep(0.5)
    assert _chat_actions(desk, user) == []
    assert _typing(mario, conv) == 204
    got = desk.telegram.wait_for(lambda r: r.get("method") == "sendChatAction" and r.get("chat_id") == user)
    assert got and got[0]["action"] == "typing"
    # a burst is one hint (the server's throttle, whatever the page sends)
    for _ in range(3):
        _typing(mario, conv)
    time.sleep(0.5)
    assert len(_chat_actions(desk, user)) == 1


def test_the_web_chat_hears_the_operator_is_writing(desk: Desk) -> None:
    citizen = Citizen(desk.crm)
    citizen.say("Vorrei parlare con un operatore")
    conv = _waiting(desk, "web")
    assert desk.api("POST", f"/conversations/{conv}/take").status_code == 200
    assert _typing(login(desk.crm, desk.ente), conv) == 204
    hint = citizen.wait(lambda e: e.get("type") == "typing" and e.get("author") == "operator")
    assert set(hint) == {"type", "author"}  # a hint: nothing of what is being written
    citizen.close()
