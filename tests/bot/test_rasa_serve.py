"""scripts/rasa_serve.py, the `rasa` that scripts/rasa_run.sh starts: Rasa's own check of the action server's answers
(RemoteAction._validate_action_result) still accepts a valid answer and refuses an invalid one with the same error,
but checks its schema against the metaschema once per process instead of on every answer (24 ms of CPU each).

Runs in .venv-rasa (Python 3.10, Rasa 3.6) against Rasa's real code; about 10 s, mostly importing Rasa."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

CHECK = r"""
import json, sys
sys.path.insert(0, "scripts")
import rasa_serve
import jsonschema
from jsonschema import validators
from rasa.core.actions.action import RemoteAction

# the metaschema checks counted from before the patches (the patched Rasa checks its answer schema when it starts)
cls = validators.validator_for(RemoteAction.action_response_format_spec())
checks = []
plain_check = cls.check_schema.__func__
cls.check_schema = classmethod(lambda c, schema, *a, **k: (checks.append(1), plain_check(c, schema, *a, **k))[1])
if sys.argv[1] == "patched":
    rasa_serve.install()

action = RemoteAction("action_bench", None)
valid = {"events": [{"event": "slot", "name": "topic", "value": "anagrafe"}], "responses": [{"text": "Buongiorno"}]}
accepted = [action._validate_action_result(valid) for _ in range(3)]
try:
    action._validate_action_result({"events": [{"event": "slot", "name": 3}], "responses": []})
    refused = None
except jsonschema.ValidationError as e:
    refused = e.message
answers_checks = len(checks)
bad_schema = []
for _ in range(2):
    try:
        jsonschema.validate({}, {"type": "no-such-type"})
    except jsonschema.SchemaError:
        bad_schema.append("SchemaError")
print(json.dumps({"accepted": accepted, "refused": refused, "checks": answers_checks, "bad_schema": bad_schema}))
"""


def _run(script: str, *args: str, with_stderr: bool = False) -> dict[str, object]:
    """``script`` in .venv-rasa's Python, from the project's root; its last line of output, as JSON."""
    if not PYTHON.exists():
        if os.environ.get("URP_REQUIRE_RASA") == "1":
            pytest.fail("Rasa is required (URP_REQUIRE_RASA=1) but .venv-rasa is missing")
        pytest.skip(".venv-rasa missing")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("URP_")},
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    out = subprocess.run(
        [str(PYTHON), "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if with_stderr:
        result["stderr"] = out.stderr
    return result


def test_action_answers_are_validated_as_before_with_the_schema_checked_once() -> None:
    plain, patched = _run(CHECK, "plain"), _run(CHECK, "patched")
    assert plain["checks"] == 4  # Rasa as shipped: the metaschema check at every answer
    assert patched["checks"] == 1
    for result in (plain, patched):
        assert result["accepted"] == [True, True, True]
        assert isinstance(result["refused"], str) and "Failed to validate Action server response" in result["refused"]
        assert result["bad_schema"] == ["SchemaError", "SchemaError"]  # a bad schema is never remembered as checked
    assert patched["refused"] == plain["refused"]


def test_rasa_run_starts_the_patched_rasa() -> None:
    script = (ROOT / "scripts" / "rasa_run.sh").read_text(encoding="utf-8")
    assert "exec .venv-rasa/bin/python scripts/rasa_serve.py" in script


ANSWERS = r"""
import json, sys
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.utils.schemas.events import EVENT_SCHEMA

every_kind = [sub["properties"]["event"]["const"] for sub in EVENT_SCHEMA["oneOf"]]
valid_events = [{"event": kind} for kind in every_kind if kind not in ("slot", "entities")] + [
    {"event": "slot", "name": "topic", "value": None, "timestamp": 1764750000.5, "metadata": None},
    {"event": "entities", "entities": [{"entity": "code", "value": "AN-7K3P9", "start": 0, "end": 8}]},
    {"event": "user", "text": "ciao", "parse_data": {"intent": {"name": "greet", "confidence": 0.9}, "entities": [],
     "response_selector": {"all_retrieval_intents": []}}},
    {"event": "action", "name": "action_listen", "policy": None, "confidence": 1.0, "hide_rule_turn": False},
    {"event": "bot", "text": "Buongiorno", "data": {"buttons": []}, "metadata": {}},
]
answers = [{"events": [e], "responses": [{"text": "ok"}]} for e in valid_events] + [
    {"events": valid_events, "responses": []},
    {},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "topic", "value": 1}]},
    {"events": [{"event": 3}]},
    {"events": [{"event": ["slot"]}]},
    {"events": [{"event": "slot", "name": "topic"}]},
    {"events": [{"event": "slot", "name": 3, "value": 1}]},
    {"events": [{"event": "slot", "name": "topic", "value": 1, "timestamp": "ieri"}]},
    {"events": [{"event": "action", "confidence": "alta"}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "x"}]}}]},
    {"events": [{"event": "user", "parse_data": {"response_selector": {"all_retrieval_intents": 3}}}]},
    {"events": [{"event": "entities"}]},
    {"events": [{"event": "bot"}, "bot"]},
    {"events": {"event": "bot"}},
    {"events": [], "responses": {"text": "ok"}},
    {"events": [], "responses": ["ok"]},
    [],
]
from jsonschema import _validators as standard

tried = []  # the patched validator's own oneOf falls back to the standard one, looked up here at each call
plain_one_of = standard.oneOf
standard.oneOf = lambda *a: (tried.append(1), (yield from plain_one_of(*a)))[1]
action = RemoteAction("action_bench", None)
out, standard_while_accepting = [], 0
for answer in answers:
    before = len(tried)
    try:
        out.append(["accepted", action._validate_action_result(answer)])
        standard_while_accepting += len(tried) - before
    except jsonschema.ValidationError as e:
        out.append(["refused", e.message, list(e.absolute_path)])
print(json.dumps({"kinds": len(every_kind), "results": out, "standard_one_of": standard_while_accepting}))
"""


def test_every_kind_of_event_and_every_bad_answer_is_judged_as_rasa_judges_it() -> None:
    """The answer's events are checked against their own kind's schema (the oneOf of 23 is not tried in full): every
    answer Rasa accepts is accepted, every one it refuses is refused with the same message at the same place."""
    plain, patched = _run(ANSWERS, "plain"), _run(ANSWERS, "patched")
    assert plain["kinds"] == 23
    results = plain["results"]
    assert isinstance(results, list)
    assert sum(r[0] == "accepted" for r in results) == 28 and sum(r[0] == "refused" for r in results) == 16
    assert patched["results"] == results
    # accepting, the standard oneOf ran only for the two answers with a user event's response_selector (its two
    # subschemas have no constant to tell them apart): no event went through the 23 kinds
    assert patched["standard_one_of"] == 2


POOL = r"""
import asyncio, json, sys
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

peers, bodies, seen = set(), [], []


async def webhook(request):
    peers.add(request.transport.get_extra_info("peername"))
    bodies.append(await request.json())
    seen.append([request.headers.get("X-Urp"), request.query.get("token")])
    return web.json_response({"events": [], "responses": [{"text": "Buongiorno"}]})


async def main():
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-Urp": "rasa"}, token="t0k")
    payloads = [
        {"sender_id": "conv-1", "tracker": {"latest_message": {"text": "Com'è la città?"}, "ts": 1764750000.123456}},
        {"sender_id": "conv-1", "big": 2**70},  # more than ujson writes: the standard library's turn
        {"sender_id": "conv-2", "events": [{"event": "slot", "name": "topic", "value": None}]},
    ]
    answers = [await endpoint.request(json=p, method="post") for p in payloads]
    if sys.argv[1] == "patched":
        await rasa_serve.close_sessions()  # what Rasa's after_server_stop does
    await runner.cleanup()
    return answers, payloads


answers, payloads = asyncio.run(main())
print(json.dumps({
    "connections": len(peers),
    "same_bodies": bodies == json.loads(json.dumps(payloads)),
    "answers": answers,
    "seen": seen,
}))
"""


def test_rasa_calls_the_action_server_through_one_kept_alive_connection() -> None:
    """Rasa as shipped opens a session and a TCP connection for every call of the action server; patched, the calls
    share one, and the server gets the same requests (JSON bodies, headers, token) and Rasa the same answers."""
    plain, patched = _run(POOL, "plain"), _run(POOL, "patched", with_stderr=True)
    assert plain["connections"] == 3
    assert patched["connections"] == 1
    for result in (plain, patched):
        assert result["same_bodies"] is True
        assert result["seen"] == [["rasa", "t0k"]] * 3
    assert patched["answers"] == plain["answers"] == [{"events": [], "responses": [{"text": "Buongiorno"}]}] * 3
    assert "Unclosed" not in patched["stderr"]  # the kept session is closed when the server stops


FREEZE = r"""
import asyncio, gc, json, sys
sys.path.insert(0, "scripts")
import rasa.core.run as run

async def loaded(*args, **kwargs):
    return "agent"

run.load_agent_on_start = loaded  # what Rasa's own would return once the model is loaded
import rasa_serve
before = gc.get_freeze_count()
rasa_serve.install()
agent = asyncio.run(run.load_agent_on_start("model.tar.gz", None, None, None, None))
print(json.dumps({
    "agent": agent,
    "frozen_before": before,
    "frozen_after": gc.get_freeze_count(),
    # serve_application looks the listener up by name when it registers it, so it gets the wrapped one
    "looked_up_by_name": "load_agent_on_start" in run.serve_application.__code__.co_names,
}))
"""


def test_the_heap_is_frozen_once_the_model_is_loaded() -> None:
    """Rasa's full collections walked the model's and TensorFlow's objects for 275-480 ms with the server stopped
    (README, "The 20-concurrent tail"): after the model loads, what exists is frozen out of the collector's reach."""
    result = _run(FREEZE)
    assert result["agent"] == "agent"
    assert result["frozen_before"] == 0
    assert result["frozen_after"] > 100_000  # Rasa's modules alone, without a model
    assert result["looked_up_by_name"] is True


TRACKER = r"""
import asyncio, json, sqlite3, sys
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

path = sys.argv[2]
store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=path)  # what endpoints.yml configures
tracker = DialogueStateTracker.from_events("conv-1", [UserUttered("buongiorno")])
asyncio.run(store.save(tracker))
with store.engine.connect() as conn:  # the store's own connection
    synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    size_limit = conn.exec_driver_sql("PRAGMA journal_size_limit").scalar()
again = asyncio.run(store.retrieve("conv-1"))
plain = sqlite3.connect(path)  # another process's view of the file (the CRM's erasure)
print(json.dumps({
    "journal_mode": plain.execute("PRAGMA journal_mode").fetchone()[0],
    "synchronous": synchronous,
    "journal_size_limit": size_limit,
    "events": plain.execute("SELECT count(*) FROM events").fetchone()[0],
    "read_back": [e.text for e in again.events if isinstance(e, UserUttered)],
}))
"""


def test_rasa_s_sqlite_tracker_store_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """As the CRM's database: readers never wait for a writer (the CRM erasing a citizen's events) and a turn's
    commit is not synced on Rasa's event loop. Rasa as shipped keeps SQLite's rollback journal and a synced commit."""
    results = {mode: _run(TRACKER, mode, str(tmp_path / f"{mode}.db")) for mode in ("plain", "patched")}
    assert results["plain"]["journal_mode"] == "delete" and results["plain"]["synchronous"] == 2  # FULL
    assert results["patched"]["journal_mode"] == "wal"
    assert results["patched"]["synchronous"] == 1  # NORMAL
    # a reset WAL is cut back to nothing: after the CRM's erasure and checkpoint, Rasa's next write leaves no old
    # page image of the erased events in it (tests/channels/test_erasure_scan.py)
    assert results["plain"]["journal_size_limit"] == -1 and results["patched"]["journal_size_limit"] == 0
    for result in results.values():
        assert result["events"] >= 1 and result["read_back"] == ["buongiorno"]


STORE_COST = r"""
import asyncio, json, sys
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
import rasa.shared.utils.common as common
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core import events as ev
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import event

from sqlalchemy.orm import Session
queries = []
plain_query = Session.query
Session.query = lambda self, *a, **k: (queries.append(1), plain_query(self, *a, **k))[1]
walks = []
plain_walk = common.all_subclasses
common.all_subclasses = lambda cls: (walks.append(cls), plain_walk(cls))[1]
connects = []
store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[2])
event.listen(store.engine, "connect", lambda *a: connects.append(1))
tracker = DialogueStateTracker.from_events("conv-1", [ev.ActionExecuted("action_session_start"), ev.SessionStarted()])
for _ in range(4):  # created after the session started: Rasa reads the events from its latest start on
    for e in [ev.UserUttered("buongiorno", {"name": "greet", "confidence": 1.0}), ev.ActionExecuted("utter_greet"),
              ev.BotUttered("Buongiorno!"), ev.SlotSet("topic", "anagrafe"), ev.ActionExecuted("action_listen")]:
        tracker.update(e)
asyncio.run(store.save(tracker))
walks.clear(); connects.clear(); queries.clear()
reads = [asyncio.run(store.retrieve("conv-1")) for _ in range(9)]
tracker = asyncio.run(store.retrieve("conv-1"))
tracker.update(ev.UserUttered("grazie", {"name": "thank", "confidence": 1.0}))
asyncio.run(store.save(tracker))
walked = {}
for c in plain_walk(ev.Event):  # Rasa's own rule: the first class of the walk with that name
    walked.setdefault(c.type_name, c.__name__)
resolved = {n: ev.Event.resolve_by_type(n).__name__ for n in walked}
unknown = []
try:
    ev.Event.resolve_by_type("no_such_event")
except ValueError as e:
    unknown.append(str(e))
print(json.dumps({
    "walks_per_read": len([w for w in walks if w is ev.Event]) / 10,  # the 9 reads and the one before the save
    "connects_for_10_reads_and_a_save": len(connects),
    "orm_queries_for_10_reads_and_a_save": len(queries),
    "events": [[e.as_dict() | {"timestamp": 0} for e in r.events] for r in reads[:1]][0],
    "same_every_read": all([e.as_dict() for e in r.events] == [e.as_dict() for e in reads[0].events] for r in reads),
    "resolved": resolved,
    "walked": walked,
    "topic": ev.Event.resolve_by_type("topic"),
    "default": ev.Event.resolve_by_type("no_such_event", ev.SlotSet).__name__,
    "unknown": unknown,
}))
"""


def test_rasa_reads_a_tracker_without_walking_the_event_classes_or_reconnecting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Rasa rebuilds the tracker from its stored events at every message: it walked its whole Event class tree for
    each event (about half of a read) and, SQLite having no pool in SQLAlchemy 1.4, opened a connection for every
    read and save, and built its ORM queries anew at each. Patched, the same events come back, every event name
    resolves to the same class, and ten reads and a save of a 21-event conversation neither walk the tree, nor
    connect again, nor build an ORM query."""
    plain = _run(STORE_COST, "plain", str(tmp_path / "plain.db"))
    patched = _run(STORE_COST, "patched", str(tmp_path / "patched.db"))
    assert plain["walks_per_read"] >= 21 and plain["connects_for_10_reads_and_a_save"] == 11  # Rasa as shipped
    assert plain["orm_queries_for_10_reads_and_a_save"] >= 11
    assert patched["walks_per_read"] <= 0.1 and patched["connects_for_10_reads_and_a_save"] == 0
    assert patched["orm_queries_for_10_reads_and_a_save"] == 0  # statements built once (core_tracker_statements)
    assert patched["events"] == plain["events"] and len(patched["events"]) == 21
    assert plain["same_every_read"] is True and patched["same_every_read"] is True
    for result in (plain, patched):
        assert result["resolved"] == result["walked"] and len(result["resolved"]) > 20
    # the patched run imports more of Rasa (its server), hence more event classes; the names both know agree
    assert plain["resolved"].items() <= patched["resolved"].items()  # type: ignore[attr-defined]
    assert patched["topic"] is None and plain["topic"] is None  # Rasa's answer for the old TopicSet events
    assert patched["default"] == plain["default"] == "SlotSet"
    assert patched["unknown"] == plain["unknown"] == ["Unknown event name 'no_such_event'."]


SAME_ROWS = r"""
import asyncio, json, sys, uuid
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core import events as ev
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

dialect, where = sys.argv[2], sys.argv[3]
dropdb = None
if dialect == "postgresql":
    import psycopg2
    name = "rasa_store_" + uuid.uuid4().hex[:10]
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=where)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    store = SQLTrackerStore(
        Domain.empty(), dialect="postgresql", host="127.0.0.1", port=5432, username="postgres", db=name
    )
    dropdb = lambda: (store.engine.dispose(), admin.cursor().execute(f"DROP DATABASE {name}"))
else:
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=where)

clock = iter(range(1_000, 2_000))
def turn(text):
    parse = {"text": text, "intent": {"name": "ask_info", "confidence": 0.9}, "entities": [],
             "intent_ranking": [{"name": "ask_info", "confidence": 0.9}, {"name": "greet", "confidence": 0.1}]}
    return [ev.UserUttered(text, parse["intent"], [], parse, timestamp=next(clock)),
            ev.ActionExecuted("action_answer_info", timestamp=next(clock)),
            ev.BotUttered("Risposta a " + text, {"custom": {"slug": "cie"}}, timestamp=next(clock)),
            ev.SlotSet("topic", "anagrafe", timestamp=next(clock)),
            ev.ActionExecuted("action_listen", timestamp=next(clock))]
def session():
    return [ev.ActionExecuted("action_session_start", timestamp=next(clock)), ev.SessionStarted(timestamp=next(clock)),
            ev.ActionExecuted("action_listen", timestamp=next(clock))]

async def run():
    out = {}
    for sender in ("conv-1", "conv-2"):
        tracker = DialogueStateTracker.from_events(sender, session())
        await store.save(tracker)
        reads = []
        for events in [turn("carta"), turn("orari"), session(), turn("tari"), [], turn("pass")]:
            tracker = await store.retrieve(sender)  # what Rasa does at each message
            for e in events:
                tracker.update(e)
            await store.save(tracker)
            reads.append([e.as_dict() for e in (await store.retrieve(sender)).events])
        full = await store.retrieve_full_tracker(sender)
        out[sender] = {"reads": reads, "full": [e.as_dict() for e in full.events]}
    with store.engine.connect() as conn:
        out["rows"] = [list(r) for r in conn.exec_driver_sql(
            "SELECT id, sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id")]
    out["missing"] = await store.retrieve("nobody")
    return out

result = asyncio.run(run())
if dropdb:
    dropdb()
print(json.dumps(result))
"""


def _postgres_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_tracker_store_s_statements_read_and_write_what_rasa_s_own_do(tmp_path, dialect) -> None:  # type: ignore[no-untyped-def]
    """Two conversations, each over two sessions, saved after every message as Rasa does: the patched store writes
    the same rows (ids, senders, types, timestamps, intents, actions, data), reads back the same events of the
    latest session at every step and the same events of every session, on SQLite and on PostgreSQL."""
    if dialect == "postgresql" and not _postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it)")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    where = "test" if dialect == "postgresql" else None
    plain = _run(SAME_ROWS, "plain", dialect, where or str(tmp_path / "plain.db"))
    patched = _run(SAME_ROWS, "patched", dialect, where or str(tmp_path / "patched.db"))
    assert patched == plain
    assert len(plain["rows"]) == 2 * (3 + 4 * 5 + 3)
    reads = plain["conv-1"]["reads"]  # type: ignore[index]
    # the latest session only, from its session_started on (action_session_start comes just before it)
    assert [len(r) for r in reads] == [7, 12, 2, 7, 7, 12]
    assert len(plain["conv-1"]["full"]) == 26  # type: ignore[index]
    assert plain["missing"] is None


TF_POOLS = r"""
import json, os, sys
sys.path.insert(0, "scripts")
import rasa_serve
if sys.argv[1] == "patched":
    rasa_serve.install()
from rasa.utils.tensorflow.environment import setup_tf_environment  # what `rasa run` calls first (rasa.__main__)
setup_tf_environment()
import tensorflow as tf
print(json.dumps({
    "inter": tf.config.threading.get_inter_op_parallelism_threads(),
    "intra": tf.config.threading.get_intra_op_parallelism_threads(),
}))
"""


def test_tensorflow_runs_rasa_s_parses_on_one_thread_unless_the_operator_says_otherwise() -> None:
    """Rasa parses one small message at a time on its event loop: TensorFlow's default pools (0: a thread per core)
    cost CPU without saving time. The operator's own setting (the variables Rasa reads) still wins."""
    assert _run(TF_POOLS, "plain") == {"inter": 0, "intra": 0}
    assert _run(TF_POOLS, "patched") == {"inter": 1, "intra": 1}
    os.environ["TF_INTRA_OP_PARALLELISM_THREADS"] = "2"
    try:
        assert _run(TF_POOLS, "patched") == {"inter": 1, "intra": 2}
    finally:
        del os.environ["TF_INTRA_OP_PARALLELISM_THREADS"]


PARSES = r"""
import asyncio, gc, json, logging, sys
sys.path.insert(0, "scripts")
import rasa_serve
import numpy as np
from rasa.utils.tensorflow.models import RasaModel

rasa_own = RasaModel._rasa_predict
own_calls = [0]  # Rasa's own method, reached through the patch or called plainly


def standard(self, batch_in):
    own_calls[0] += 1
    return rasa_own(self, batch_in)


RasaModel._rasa_predict = standard
rasa_serve.concrete_predict()  # keeps ``standard`` as Rasa's own path
direct = RasaModel._rasa_predict


from rasa.core.agent import load_agent

texts = [json.loads(line)["query"] for line in open("knowledge/data/probe_cases.jsonl", encoding="utf-8")][:40]
texts += ["buongiorno", "voglio parlare con un operatore", "la pratica AN-7K3P9 a che punto è?", "RSSMRA85T10A562S"]


def summary(parsed):
    return [
        [p["intent"]["name"], round(p["intent"]["confidence"], 5),
         [[r["name"], round(r["confidence"], 5)] for r in p["intent_ranking"]],
         [[e["entity"], e["value"], e["start"], e["end"]] for e in p["entities"]]]
        for p in parsed
    ]


async def main():
    agent = await load_agent(model_path=sys.argv[1])
    logging.disable(logging.CRITICAL)
    warm_up = own_calls[0]  # the prediction Rasa makes when the model loads, which builds the graph
    RasaModel._rasa_predict = standard
    plain = summary([await agent.parse_message(t) for t in texts])
    own_plain = own_calls[0] - warm_up
    RasaModel._rasa_predict = direct
    patched = summary([await agent.parse_message(t) for t in texts])
    own_patched = own_calls[0] - warm_up - own_plain
    # a batch that does not fit the held graph's signature (each feature dimension one larger) goes Rasa's way,
    # which refuses it as it always did
    model = next(o for o in gc.get_objects() if isinstance(o, RasaModel) and "_urp_graph" in o.__dict__)
    specs = model.__dict__["_urp_graph"][2]
    odd = tuple(
        np.zeros([1] * (len(s.shape) - 1) + [(s.shape[-1] or 1) + 1], dtype=s.dtype.as_numpy_dtype) for s in specs
    )
    before = own_calls[0]
    try:
        direct(model, odd)
        refused = None
    except Exception as exc:  # TensorFlow's refusal of an input outside the signature
        refused = type(exc).__name__
    calls = {
        "rasa_own_warm_up": warm_up,
        "rasa_own_plain": own_plain,
        "rasa_own_patched": own_patched,
        "rasa_own_odd": own_calls[0] - before,
    }
    print(json.dumps({"plain": plain, "patched": patched, "calls": calls, "refused": refused}))


asyncio.run(main())
"""


def test_diet_predicts_through_its_one_graph_with_rasa_s_own_results() -> None:
    """Once the graph is built (by Rasa's own path, in the warm-up prediction when the model loads), DIET's batches
    go straight to it, without TensorFlow's polymorphic dispatch at every call: the same intents, rankings,
    confidences and entities as Rasa's own path on 44 messages (probe questions, a greeting, a handoff, a request
    code, a codice fiscale); a batch outside the signature is refused as before."""
    from tests.bot.test_rasa_project import _need

    model = _need(model=True)
    result = _run(PARSES, str(model))
    assert result["patched"] == result["plain"]
    assert len(result["plain"]) == 44  # type: ignore[arg-type]
    # Rasa's own method built the graph (its warm-up at load) and ran for each plain parse, for none of the patched
    # ones, and for the batch outside the signature, which it refused
    assert result["calls"] == {"rasa_own_warm_up": 1, "rasa_own_plain": 44, "rasa_own_patched": 0, "rasa_own_odd": 1}
    assert result["refused"] is not None
