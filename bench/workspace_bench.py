"""The operator's workspace, measured in Chromium against a real server (SQLite, no Rasa: a citizen's first message
is handed off, as when the assistant is down).

1. Actions to reply to a handed-off chat, from the console's landing page: each click or key press the operator
   makes is counted (typing the text itself is not), and whether the composer needed a scroll.
2. Latency from a citizen's web-chat message (sent on the socket, timed at the send) to its appearance in the open
   workspace (timed in the page by a MutationObserver on the thread): p50/p95 over N messages, one at a time.

Prints one JSON line. Run: .venv/bin/python bench/workspace_bench.py [--messages 50]"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.conftest import DB, PASSWORD, SECRET, SERVICE_TOKEN, free_port, make_ente, start_server  # noqa: E402

WATCH = """() => { window.__seen = {}; new MutationObserver(() => {
  document.querySelectorAll('#ws-messages .ws-in .ws-text').forEach(el => {
    const m = /^bench (\\d+)$/.exec(el.textContent);
    if (m && !(m[1] in window.__seen)) window.__seen[m[1]] = Date.now(); });
}).observe(document.getElementById('ws-messages'), {childList: true, subtree: true}); }"""


def main() -> None:
    from playwright.sync_api import expect, sync_playwright
    from websockets.sync.client import connect

    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'ws.db'}"
    from crm.migrations import upgrade

    upgrade(url)
    ente = make_ente(DB(url), slug="bench")
    port = free_port()
    env = {
        **os.environ,
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": SECRET,
        "URP_SERVICE_TOKEN": SERVICE_TOKEN,
        "URP_SCHEDULER": "false",
        "URP_VAR_DIR": str(tmp / "var"),
        "URP_DEFAULT_ENTE": "bench",
        "URP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "URP_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "URP_KB_WARM_UP": "false",
    }
    srv = start_server(env, tmp / "crm.log", port=port)
    out: dict[str, object] = {}
    try:
        ws = connect(srv.url.replace("http", "ws") + "/channels/web/ws", open_timeout=60)
        ws.send(json.dumps({"type": "hello", "session": str(uuid.uuid4())}))
        ws.recv(timeout=30)

        def say(text: str) -> None:
            cid = uuid.uuid4().hex
            ws.send(json.dumps({"type": "message", "text": text, "client_id": cid}))
            while json.loads(ws.recv(timeout=30)).get("client_id") != cid:
                pass

        say("Vorrei parlare con un operatore")
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for _ in range(100):
                items = c.get(
                    "/api/v1/conversations", params={"mode": "waiting"}, headers=ente.headers("operator")
                ).json()["items"]
                if items:
                    break
                time.sleep(0.2)
        conv = items[0]["id"]

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(
                viewport={"width": 1366, "height": 768}, base_url=srv.url, locale="it-IT"
            ).new_page()
            page.goto("/console/login")
            page.get_by_label("Nome utente").fill(ente.usernames["operator"])
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Password").press("Enter")
            page.wait_for_url("**/console/**")
            # 1) actions to reply, from the landing page
            actions = 0
            page.locator(f'.ws-item[data-id="{conv}"] a').click()
            actions += 1
            page.get_by_role("button", name="Prendi in carico").click()
            actions += 1
            reply = page.get_by_role("textbox", name="Risposta al cittadino")
            expect(reply).to_be_focused()  # taking the chat puts the cursor in the composer
            box = reply.bounding_box()
            scroll_needed = box is None or box["y"] + box["height"] > 768
            page.keyboard.type("Buongiorno, sono l'operatore dell'URP.")
            page.keyboard.press("Enter")
            actions += 1
            expect(page.get_by_role("list", name="Messaggi").get_by_role("listitem").last).to_contain_text(
                "sono l'operatore"
            )
            out["actions_to_reply"] = actions
            out["scroll_needed"] = scroll_needed
            # 2) citizen's message -> shown in the open workspace
            expect(page.locator("#ws")).to_have_attribute("data-live", "on")
            page.evaluate(WATCH)
            sent: dict[str, float] = {}
            for i in range(args.messages):
                sent[str(i)] = time.time() * 1000
                say(f"bench {i}")
                deadline = time.monotonic() + 30
                while str(i) not in page.evaluate("window.__seen") and time.monotonic() < deadline:
                    time.sleep(0.01)
            seen = page.evaluate("window.__seen")
            lat = sorted(seen[k] - sent[k] for k in sent if k in seen)
            out.update(
                messages=args.messages,
                shown=len(lat),
                p50_ms=round(statistics.median(lat)),
                p95_ms=round(lat[max(0, int(len(lat) * 0.95) - 1)]),
                max_ms=round(lat[-1]),
            )
            browser.close()
        ws.close()
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=15)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
