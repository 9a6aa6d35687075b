"""Assistant reply latency through the whole path, beside the floor it stands on, in one run on the same messages:
citizen -> Telegram webhook -> hub -> Rasa -> action server -> CRM API / knowledge base -> reply sent to (fake)
Telegram, next to Rasa's NLU parse alone and a bare Rasa REST turn (Rasa + actions + CRM API, no hub: no storing,
no queue, no delivery). The demo municipality is seeded (`urp demo seed`: offices, booking services, the published
demo KB articles), so information questions get real answers.

200 scripted citizen messages in 50 conversations of 4 turns (greetings, information questions from
knowledge/data/probe_cases.jsonl, booking starts, out of scope, thanks, goodbyes, "sei un bot?"), sent once
sequentially and once with 20 conversations at a time (each conversation still one turn after another, as a
citizen writes). Per message: `reply` = until the first bot message reaches Telegram, `turn` = until every reply of
the turn is delivered and recorded (the hub's turn row done and none of its replies still pending or sending; before
the turn queue existed, until the webhook returned). Errors: webhook not 200, no reply, or an apology / holding
message (CRM or Rasa unreachable or too slow). CPU: milliseconds of CPU per message of each process (CRM + hub,
action server, Rasa; /proc, children included) over each phase. Prints one JSON line.
Run: .venv/bin/python bench/bot_bench.py [--messages 200] [--concurrent 20]

`--answers` runs only the sequential pass through the hub on the same script (the answered / declined counts and
their latency, without the floor and the concurrent passes) and lists each miss: an answerable question without an
article, an off-topic one given an article, with the intent the NLU read and the assistant's first reply."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.bot.test_rasa_project import current_model  # noqa: E402
from tests.channels.conftest import TG_SECRET, TG_TOKEN, _start_bot, _stop, rasa_available  # noqa: E402
from tests.channels.fakes import FakeTelegram  # noqa: E402
from tests.conftest import ACTIONS_SECRET, DB, ROOT, SECRET, SERVICE_TOKEN, free_port, start_server  # noqa: E402

GREETINGS = [
    "buongiorno",
    "salve, mi potete aiutare?",
    "buonasera, avrei una domanda",
    "ciao, mi serve un'info",
    "buongiorno, sono una cittadina di borgo aurelio",
]
BOOKING = [
    "vorrei prenotare un appuntamento per la carta d'identità",
    "vorrei un appuntamento all'ufficio tributi",
    "posso prenotare un colloquio con l'assistente sociale?",
    "vorrei fissare un appuntamento",
]
OUT_OF_SCOPE = [
    "chi vincerà lo scudetto quest'anno?",
    "mi sai dire una ricetta per la carbonara?",
    "che tempo farà sabato al mare?",
    "mi trovi un buon ristorante di pesce?",
]
CLOSING = [
    "ti ringrazio molto per l'aiuto",
    "grazie mille, gentilissimi",
    "arrivederci, buona giornata",
    "ma sto parlando con una persona o con un computer?",
]
# what the citizen sees when something behind the assistant failed (actions.APOLOGY, hub.HOLDING)
FAILURE_MARKS = ("non riesco a collegarmi ai sistemi del Comune", "assistente virtuale in questo momento non risponde")
FEEDBACK_QUESTION = "Le è stata utile questa risposta?"
# asked for somebody the URP is not (the assistente sociale), the article on reaching them ends with this offer
# instead of the feedback question (utter_kb_or_operator)
OPERATOR_OFFER = "Se preferisce parlare con un operatore dell'URP"
# a question asked inside a form (a report, a booking) is answered with its article, then the form resumes
# (utter_in_form_resume, a message of its own; the no-answer reply only ends with these words)
IN_FORM_RESUME = "Riprendiamo da dove eravamo."
# the article said "report it" and the assistant offered to file the segnalazione instead (utter_report_offer)
REPORT_OFFER = "vuole che proceda?"
# a described problem started the report form with what was said: it asks only where (utter_ask_issue_place)
REPORT_FORM = "Dove si trova esattamente?"
# the assistant handed the conversation to the operators (actions.ActionHandoff): later turns get no bot reply
HANDOFF_MARKS = ("mettendo in contatto con un operatore", "richiesta di richiamata")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def script(n_messages: int, seed: int = 20261123) -> list[list[tuple[str, str]]]:
    """Conversations of 4 (kind, text) turns: a greeting or a question, two questions, then a booking start, an
    out-of-scope message or a closing. About 60% information questions, as at a citizen desk."""
    rng = random.Random(seed)
    # answerable probe questions are "info", the out-of-scope ones "info_oos" (they should not get an article)
    probes = [
        ("info" if row.get("expected") else "info_oos", row["query"])
        for row in (
            json.loads(line)
            for line in (ROOT / "knowledge" / "data" / "probe_cases.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        )
    ]
    rng.shuffle(probes)
    questions = itertools.cycle(probes)
    lasts = itertools.cycle(
        [
            ("booking", BOOKING),
            ("out_of_scope", OUT_OF_SCOPE),
            ("booking", BOOKING),
            ("closing", CLOSING),
            ("out_of_scope", OUT_OF_SCOPE),
            ("closing", CLOSING),
        ]
    )
    convs = []
    for i in range((n_messages + 3) // 4):
        first = ("greeting", rng.choice(GREETINGS)) if i % 2 == 0 else next(questions)
        kind, texts = next(lasts)
        convs.append([first, next(questions), next(questions), (kind, rng.choice(texts))])
    flat = [t for c in convs for t in c][:n_messages]
    return [flat[i : i + 4] for i in range(0, len(flat), 4)]


def what_it_did(texts: list[str]) -> dict[str, bool]:
    """What a turn's replies show: a failure, an article (or an answer inside a form), the report offer, the form."""
    return {
        "failure": any(m in t for t in texts for m in FAILURE_MARKS),
        "answered": FEEDBACK_QUESTION in texts or IN_FORM_RESUME in texts or any(OPERATOR_OFFER in t for t in texts),
        "offered_report": any(REPORT_OFFER in t for t in texts),
        "report_form": any(REPORT_FORM in t for t in texts),
    }


def turn_row(
    kind: str,
    text: str,
    texts: list[str],
    status: int,
    after_handoff: bool,
    reply_ms: float | None,
    turn_ms: float | None,
) -> dict[str, Any]:
    """One message's line in the results, the same for the hub and the bare Rasa passes."""
    return {
        "kind": kind,
        "text": text,
        "reply": texts[0][:120] if texts else "",
        "status": status,
        "replies": len(texts),
        "after_handoff": after_handoff,
        "reply_ms": reply_ms,
        "turn_ms": turn_ms,
        **what_it_did(texts),
    }


class TimedTelegram(FakeTelegram):
    """The fake Bot API, stamping each sent message with the bench's clock. It keeps connections open, as the real
    Bot API does: closing each one after its answer made the hub open a TCP connection for every send (3% of its
    CPU at 20 concurrent, none of it spent in production)."""

    keep_alive = True

    def record(self, item: dict[str, Any]) -> None:
        super().record({**item, "t": time.perf_counter()})


def update(uid: int, user: int, text: str) -> dict[str, Any]:
    return {
        "update_id": uid,
        "message": {
            "message_id": uid,
            "date": 1,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "B"},
            "text": text,
        },
    }


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, int(round(p / 100 * len(v))) - 1))], 1)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants, in milliseconds."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * 1000 / CLK_TCK  # utime, stime
        todo += _children(p)
    return total


def own_cpu_ms() -> float:
    """CPU time of this process alone (its children are the servers being measured)."""
    t = os.times()
    return (t.user + t.system) * 1000


def profile(pids: dict[str, int], out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on each server (idle threads left out, native frames of C extensions included), written on SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy in this environment: .venv/bin/pip install py-spy")
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "-o", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


class CpuMeter:
    def __init__(self, pids: dict[str, int], watch: TurnWatch | None = None) -> None:
        self.pids = pids
        self.watch = watch
        self.start = {k: cpu_ms(v) for k, v in pids.items()}
        self.bench_start = own_cpu_ms()
        self.watch_start = watch.cpu_ms if watch else 0.0

    def per_message(self, n: int) -> dict[str, float]:
        out = {k: round((cpu_ms(v) - self.start[k]) / max(n, 1), 1) for k, v in self.pids.items()}
        out["bench"] = round((own_cpu_ms() - self.bench_start) / max(n, 1), 1)  # the harness: clients, fake Telegram
        if self.watch is not None:  # of which the thread that tells when each turn is over
            out["bench_watch"] = round((self.watch.cpu_ms - self.watch_start) / max(n, 1), 1)
        return out


class TurnWatch:
    """When is a turn over? The hub answers the webhook once the message is stored and runs the turn off the
    connection: the turn is over when its row in the turn queue is done and none of its replies is still pending or
    sending. Without a turn queue (the hub before it), the webhook returned after the last reply."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        self.local = threading.local()
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as c:
            self.queue = (
                c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'turns'").fetchone() is not None
            )

        # one poller for every waiting client: 20 threads each polling SQLite every few ms took a core and the GIL
        # from the bench itself, and the figures measured the harness more than the hub
        self.waiting: dict[int, tuple[threading.Event, float, list[float]]] = {}  # event, since, end (once over)
        self.lock = threading.Lock()
        self.closed = False
        self.cpu_ms = 0.0  # this thread's CPU so far (the bench's own cost, printed beside the servers')
        threading.Thread(target=self._poll, name="turn-watch", daemon=True).start()

    def _done(self, c: sqlite3.Connection, update_ids: list[int]) -> set[int]:
        """The waiting turns that are over, in one statement for all of them (it was one per waiting turn, up to 20
        at each of the 250 polls a second). The ente's id lets SQLite find the messages by the unique (ente,
        channel, channel message id) index: without it each poll read the whole messages table (3.3 ms of CPU a
        message in the sequential pass, 60% of the harness's own CPU, taken from the servers measured)."""
        marks = ",".join("?" * len(update_ids))
        rows = c.execute(
            "SELECT m.channel_message_id FROM messages m LEFT JOIN turns t ON t.message_id = m.id "
            "WHERE m.ente_id = (SELECT id FROM entes WHERE slug = 'bench') "
            f"AND m.channel = 'telegram' AND m.channel_message_id IN ({marks}) "
            "AND (t.state IS NULL OR t.state = 'done') "
            "AND NOT EXISTS (SELECT 1 FROM messages o WHERE o.conversation_id = m.conversation_id "
            "AND o.direction = 'out' AND o.id > m.id AND o.delivery_status IN ('pending', 'sending'))",
            [str(u) for u in update_ids],
        ).fetchall()
        return {int(uid) for (uid,) in rows}

    def _poll(self) -> None:
        """Polls every 4 ms. A turn found over ended between the poll before (or its client's wait, when later) and
        this one: its end is taken as the middle of that interval. Taken at the finding poll, every hub turn was
        0-4 ms long (2 ms on average) where the bare Rasa turn, timed at its HTTP answer, was not."""
        c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        before: float | None = None  # when the previous poll read the queue, if anybody was waiting then
        while not self.closed:
            with self.lock:
                ids = list(self.waiting)
            if ids:
                asked = time.perf_counter()
                for uid in self._done(c, ids):
                    with self.lock:
                        entry = self.waiting.pop(uid, None)
                    if entry is not None:
                        ev, since, ended = entry
                        ended.append(((since if before is None else max(since, before)) + asked) / 2)
                        ev.set()
                before = asked
            else:
                before = None
            self.cpu_ms = time.thread_time() * 1000
            time.sleep(0.004)

    def wait(self, update_id: int, timeout: float = 60) -> float | None:
        """When the turn ended (``time.perf_counter``), or None if it did not within ``timeout`` seconds."""
        ev, ended = threading.Event(), []
        with self.lock:
            self.waiting[update_id] = (ev, time.perf_counter(), ended)
        if ev.wait(timeout):
            return ended[0]
        with self.lock:
            self.waiting.pop(update_id, None)
        return None


def summary(every: list[dict[str, Any]], wall: float, latency: str = "turn_ms") -> dict[str, Any]:
    turns = [x for x in every if not x["after_handoff"]]  # the rest went to the operators, not the bot
    reply = [x["reply_ms"] for x in turns if x["reply_ms"] is not None]
    turn = [x[latency] for x in turns if x["status"] == 200 and x[latency] is not None]
    info = [x for x in turns if x["kind"] == "info"]
    oos = [x for x in turns if x["kind"] in ("info_oos", "out_of_scope")]
    return {
        "reply_p50_ms": pct(reply, 50),
        "reply_p95_ms": pct(reply, 95),
        "turn_p50_ms": pct(turn, 50),
        "turn_p95_ms": pct(turn, 95),
        "max_ms": pct(turn, 100),
        "bot_turns": len(turns),
        "to_operators_after_handoff": len(every) - len(turns),
        "msgs_per_s": round(len(every) / wall, 2),
        "replies_per_s": round(sum(x["replies"] for x in every) / wall, 2),
        "errors": {
            "http": sum(1 for x in turns if x["status"] != 200),
            "no_reply": sum(1 for x in turns if not x["replies"]),
            "failure_reply": sum(1 for x in turns if x["failure"]),
        },
        "info_answered": f"{sum(1 for x in info if x['answered'])}/{len(info)}",
        "info_report_offered": f"{sum(1 for x in info if x['offered_report'])}/{len(info)}",
        "info_report_form": f"{sum(1 for x in info if x['report_form'] and not x['answered'])}/{len(info)}",
        "oos_declined": f"{sum(1 for x in oos if not x['answered'])}/{len(oos)}",
        "by_kind_p50_ms": {
            k: pct([x[latency] for x in turns if x["kind"] == k and x["status"] == 200 and x[latency] is not None], 50)
            for k in sorted({x["kind"] for x in turns})
        },
    }


def misses(every: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns the counts hold against the assistant: an answerable question without an article (nor the offer to
    file a segnalazione), an off-topic one given an article."""
    return [
        {k: x[k] for k in ("kind", "text", "reply")}
        for x in every
        if not x["after_handoff"]
        and (
            (x["kind"] == "info" and not x["answered"] and not x["offered_report"] and not x["report_form"])
            or (x["kind"] in ("info_oos", "out_of_scope") and x["answered"])
        )
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--answers", action="store_true", help="only the sequential pass, with each miss listed")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="sample each server with py-spy (pip install py-spy; not a dependency) during the concurrent pass through "
        "the hub only, into DIR/<process>.txt (py-spy's raw format: one stack and its count a line)",
    )
    args = ap.parse_args()
    if not rasa_available():
        print(json.dumps({"bench": "bot", "skipped": "no .venv-rasa or trained model (make train)"}))
        return
    started = time.perf_counter()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bot-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    from crm.migrations import upgrade

    upgrade(url)
    tg = TimedTelegram()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("URP_")},
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": SECRET,
        "URP_SERVICE_TOKEN": SERVICE_TOKEN,
        "URP_ACTIONS_SECRET": ACTIONS_SECRET,
        "URP_SCHEDULER": "false",
        "URP_VAR_DIR": str(tmp / "var"),
        "URP_DEFAULT_ENTE": "bench",
        "URP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": tg.url + "/bot",
        "PYTHONUNBUFFERED": "1",
    }
    if args.answers:
        # the index is built by the first search below, not at start (/health waits 60 s at most); the counts must
        # not depend on the machine's load: every timeout on the way is generous (the latencies say what they say)
        env.update(URP_KB_WARM_UP="false", URP_CRM_TIMEOUT="120", RASA_TIMEOUT_SECONDS="180")
        env.update(URP_TURN_MAX_AGE_SECONDS="600", SANIC_RESPONSE_TIMEOUT="900")  # the CRM's and the actions' Sanic
    seeded = subprocess.run(
        [sys.executable, "-m", "crm.cli", "demo", "seed"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if seeded.returncode != 0:
        raise SystemExit(f"urp demo seed failed:\n{seeded.stdout}\n{seeded.stderr}")
    model = current_model()
    os.environ["RASA_MODEL"] = str(model)  # scripts/rasa_run.sh: the model trained from the current data
    procs, rasa_url = _start_bot(env, port, tmp, url)
    env["URP_RASA_URL"] = rasa_url
    try:
        srv = start_server(env, tmp / "crm.log", port=port, timeout=600)  # the demo KB index builds first
    except RuntimeError:
        for p in procs:
            _stop(p)
        raise
    if args.answers:
        auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
        built = httpx.get(srv.url + "/api/v1/kb/search", params={"q": "carta d'identità"}, headers=auth, timeout=900)
        built.raise_for_status()
    pids = {"crm": srv.proc.pid, "actions": procs[0].pid, "rasa": procs[1].pid}
    hook = srv.url + "/channels/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    watch = TurnWatch(tmp / "bench.db")
    # update ids apart from the fake's message ids: the hub keeps both in one unique (ente, channel, id) column
    uids = itertools.count(10_000_000)
    lock = threading.Lock()

    def sent_to(user: int) -> list[dict[str, Any]]:
        with tg._lock:
            return [r for r in tg.requests if r["chat_id"] == user]

    # one client for every simulated citizen: a client per conversation built an SSL context each time (loading the
    # CA bundle, for plain HTTP on loopback), about a third of the harness's own CPU, taken from the servers measured
    citizens = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

    def converse(user: int, turns: list[tuple[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        handed_off = False
        for kind, text in turns:
            seen = len(sent_to(user))
            with lock:
                uid = next(uids)
            t0 = time.perf_counter()
            try:
                status = citizens.post(hook, json=update(uid, user, text), headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            t1 = time.perf_counter()
            if status == 200 and watch.queue:
                end = watch.wait(uid, timeout=300 if args.answers else 60)
                t1 = end if end is not None else None
            if status == 200:
                replies = sent_to(user)[seen:]
            else:  # let a late reply land before the next turn
                replies = tg.wait_for(lambda r, u=user: r["chat_id"] == u, timeout=30)[seen:]
            texts = [r.get("text") or "" for r in replies]
            reply_ms = (replies[0]["t"] - t0) * 1000 if replies else None
            turn_ms = (t1 - t0) * 1000 if t1 is not None else None
            out.append(turn_row(kind, text, texts, status, handed_off, reply_ms, turn_ms))
            handed_off = handed_off or any(m in t for t in texts for m in HANDOFF_MARKS)
        return out

    def bare_conversations(n: int, base: int) -> list[tuple[int, str]]:
        """Conversations the CRM knows (the actions look them up), each with the hub's signed turn token."""
        from channels.turn_token import Turn, sign
        from crm.contacts import service as contacts
        from crm.conversations import service as conversations
        from crm.entes import service as entes

        async def make(s: Any) -> list[tuple[int, int, int]]:
            ente = await entes.get_by_slug(s, "bench")
            out = []
            for i in range(n):
                contact, _ = await contacts.find_or_create_by_identity(
                    s, ente_id=ente.id, channel="telegram", external_id=str(base + i), first_name="B"
                )
                conv = await conversations.open_conversation_for(
                    s, ente_id=ente.id, contact_id=contact.id, channel="telegram"
                )
                out.append((conv.id, contact.id, ente.id))
            return out

        return [
            (conv, sign(Turn(conv, contact, ente, "telegram"), ACTIONS_SECRET, ttl=3600))
            for conv, contact, ente in DB(url).run(make)
        ]

    def bare_converse(conv: tuple[int, str], turns: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The same turns straight to Rasa's REST channel, as the hub sends them: the floor under the hub."""
        conv_id, token = conv
        out: list[dict[str, Any]] = []
        handed_off = False
        for kind, text in turns:
            t0 = time.perf_counter()
            try:
                r = citizens.post(
                    f"{rasa_url}/webhooks/rest/webhook",
                    json={"sender": f"conv-{conv_id}", "message": text, "metadata": {"urp_turn": token}},
                )
                status, replies = r.status_code, [m for m in r.json() if m.get("text") or m.get("buttons")]
            except (httpx.HTTPError, ValueError):
                status, replies = 0, []
            ms = (time.perf_counter() - t0) * 1000
            texts = [m.get("text") or "" for m in replies]
            out.append(turn_row(kind, text, texts, status, handed_off, ms if replies else None, ms))
            handed_off = handed_off or any(m in t for t in texts for m in HANDOFF_MARKS)
        return out

    results: dict[str, Any] = {
        "bench": "bot",
        "messages": args.messages,
        "model": model.name if model else None,
        "turn_end": "turn queue" if watch.queue else "webhook returned",
    }
    try:
        # warm-up (not measured): the first search opens the KB index and the embedder, Rasa loads lazily too
        warm = converse(
            9_000_000,
            [
                ("greeting", "buongiorno"),
                ("info", "come rinnovo la carta d'identità?"),
                ("booking", "vorrei prenotare un appuntamento"),
            ],
        )
        results["warmup_ms"] = [round(w["turn_ms"] or 0) for w in warm]
        conversations = script(args.messages)
        n = sum(len(c) for c in conversations)
        if args.answers:
            meter = CpuMeter(pids, watch)
            t = time.perf_counter()
            every = [x for i, conv in enumerate(conversations) for x in converse(7_000_000 + i, conv)]
            results["seq"] = {**summary(every, time.perf_counter() - t), "cpu_ms_per_msg": meter.per_message(n)}
            with httpx.Client(timeout=60) as c:  # what the NLU reads in each miss, after the timed pass
                parse = f"{rasa_url}/model/parse"
                results["misses"] = [
                    {**m, "intent": c.post(parse, json={"text": m["text"]}).json()["intent"]["name"]}
                    for m in misses(every)
                ]
            results["wall_s"] = round(time.perf_counter() - started, 1)
            print(json.dumps(results, ensure_ascii=False))
            return
        # 1) the floor: Rasa's NLU alone, then a bare Rasa turn (actions and CRM API included, no hub)
        meter = CpuMeter(pids)
        lat = []
        with httpx.Client(timeout=60) as c:
            for conv in conversations:
                for _, text in conv:
                    t0 = time.perf_counter()
                    c.post(f"{rasa_url}/model/parse", json={"text": text})
                    lat.append((time.perf_counter() - t0) * 1000)
        results["nlu_parse"] = {"p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "cpu_ms_per_msg": meter.per_message(n)}
        for label, conc, base in (
            ("bare_rasa_seq", 1, 5_000_000),
            (f"bare_rasa_c{args.concurrent}", args.concurrent, 6_000_000),
        ):
            convs = bare_conversations(len(conversations), base)
            meter = CpuMeter(pids)
            t = time.perf_counter()
            with ThreadPoolExecutor(conc) as pool:
                per_conv = list(
                    pool.map(lambda ic, convs=convs: bare_converse(convs[ic[0]], ic[1]), enumerate(conversations))
                )
            wall = time.perf_counter() - t
            results[label] = {
                **summary([x for conv in per_conv for x in conv], wall),
                "cpu_ms_per_msg": meter.per_message(n),
            }
        # 2) the whole path through the hub
        for label, conc, base in (("seq", 1, 7_000_000), (f"c{args.concurrent}", args.concurrent, 8_000_000)):
            spies = profile(pids, Path(args.profile)) if args.profile and conc > 1 else []
            meter = CpuMeter(pids, watch)
            t = time.perf_counter()
            with ThreadPoolExecutor(conc) as pool:
                per_conv = list(pool.map(lambda ic, base=base: converse(base + ic[0], ic[1]), enumerate(conversations)))
            wall = time.perf_counter() - t
            results[label] = {
                **summary([x for conv in per_conv for x in conv], wall),
                "cpu_ms_per_msg": meter.per_message(n),
            }
            for spy in spies:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(timeout=60)
        floor = results["bare_rasa_seq"]
        if floor["turn_p95_ms"] and results["seq"]["turn_p95_ms"]:
            results["seq_p95_over_bare_rasa_p95"] = round(results["seq"]["turn_p95_ms"] / floor["turn_p95_ms"], 2)
        cfloor = results[f"bare_rasa_c{args.concurrent}"]
        if cfloor["turn_p95_ms"] and results[f"c{args.concurrent}"]["turn_p95_ms"]:
            results[f"c{args.concurrent}_p95_over_bare_rasa_p95"] = round(
                results[f"c{args.concurrent}"]["turn_p95_ms"] / cfloor["turn_p95_ms"], 2
            )
        # the servers' own CPU a message at 20 concurrent (CRM, actions, Rasa: the harness left out) and the messages a
        # second the machine's cores could carry at that cost if nothing else ran there: the harness shares the cores
        cpu = results[f"c{args.concurrent}"]["cpu_ms_per_msg"]
        servers = sum(cpu.get(k, 0.0) for k in ("crm", "actions", "rasa"))
        if servers:
            results[f"c{args.concurrent}_servers_cpu_ms_per_msg"] = round(servers, 1)
            results[f"c{args.concurrent}_servers_ceiling_msgs_per_s"] = round((os.cpu_count() or 1) * 1000 / servers, 1)
        # the crash window: how long a reply was sent by the provider but not yet recorded as sent (the hub keeps it)
        components = httpx.get(srv.url + "/health", timeout=30).json()["components"]
        if components.get("turn_queue"):
            results["crash_window_ms"] = components["turn_queue"].get("crash_window_ms")
            # the turns' waits for a place (URP_TURN_CONCURRENCY) and how many outran URP_TURN_SLOT_SECONDS
            results["place_wait_ms"] = components["turn_queue"].get("place_wait_ms")
            results["gave_place_up"] = components["turn_queue"].get("gave_place_up")
        # every write transaction of the CRM over the whole run, the knowledge base's index build at start included
        if components["database"].get("write_hold_ms"):
            results["sqlite_write_hold_ms"] = components["database"]["write_hold_ms"]
        results["loadavg_before"] = [round(x, 2) for x in load_before]
        results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        results["cpus"] = os.cpu_count()
        results["wall_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(results))
    finally:
        _stop(srv.proc)
        for p in procs:
            _stop(p)
        tg.close()


if __name__ == "__main__":
    main()
