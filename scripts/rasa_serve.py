"""`rasa` (run by .venv-rasa's Python, from scripts/rasa_run.sh) with fixes to Rasa 3.6's cost per message; the first:

Rasa checks every answer of the action server with ``jsonschema.validate(result, schema)``, and ``validate`` first
checks the schema itself against its metaschema, on every call: with jsonschema 4.17 that check of Rasa's constant
events schema cost 24 ms of CPU, the answer's own validation 0.6 ms, and a turn calls the action server once or
twice (a form's validation action too). Measured with py-spy at 20 concurrent conversations (2026-12-02), it was
about half of Rasa's CPU per message. Here ``jsonschema.validate`` checks each distinct schema once per process,
then validates as before: the same errors, raised the same way.

More, each below: the heap is frozen once the model is loaded; Rasa's SQLite tracker store runs in WAL mode, as the
CRM's database does (``sqlite_wal``), keeps its connection (``pooled_sqlite``) and reads and writes its rows with
statements built once (``core_tracker_statements``); an event's class is found by a table lookup (``event_classes``);
the action server is called through one kept-alive connection pool, with the request's JSON written by ujson
(``pooled_endpoints``); TensorFlow runs each parse on one thread (``single_threaded_tensorflow``) and DIET calls
its one graph directly (``concrete_predict``)."""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

import jsonschema
from jsonschema import exceptions, validators

_checked: set[tuple[type, str]] = set()  # (validator class, the schema as canonical JSON) already found valid
_original_validate = jsonschema.validate
# registered constant schemas (Rasa's answer schema, ``constant_answer_schema``) with their validators, by the schema
# object's identity: an answer is validated without writing the schema out as JSON again, first by a validator whose
# ``oneOf`` goes straight to the event's own schema (``_one_of_by_discriminator``); only an answer it finds invalid
# goes through the standard validator, which gives Rasa's error as before. The schema is kept with its validators,
# so its id cannot be reused by another object.
_validators: dict[tuple[int, type], tuple[Any, Any, Any]] = {}


def register(schema: Any) -> None:
    """Validate against ``schema`` (a constant, valid schema) with validators built once, here."""
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError:  # pragma: no cover - Rasa's schema is valid; an invalid one fails as before
        return
    _checked.add((cls, json.dumps(schema, sort_keys=True)))
    fast = validators.extend(cls, {"oneOf": _one_of_by_discriminator})(schema)
    _validators[(id(schema), cls)] = (schema, fast, cls(schema))


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema's own check done once per distinct schema (a schema that fails it
    fails again on every call, as before)."""
    if cls is None:
        cls = validators.validator_for(schema)
    known = _validators.get((id(schema), cls)) if not (args or kwargs) else None
    if known is not None and known[0] is schema:
        _, fast, validator = known
        if fast.is_valid(instance):
            return
    else:
        try:
            key = (cls, json.dumps(schema, sort_keys=True))
        except (TypeError, ValueError):  # not plain JSON: no key to remember it by
            _original_validate(instance, schema, cls, *args, **kwargs)
            return
        if key not in _checked:
            cls.check_schema(schema)
            _checked.add(key)
        validator = cls(schema, *args, **kwargs)
    error = exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error


def _discriminator(subschemas: Any) -> tuple[str, dict[str, Any]] | None:
    """(property, {its constant: subschema}) when every subschema of a ``oneOf`` fixes one property to a string
    constant of its own, as Rasa's event schema does with ``event`` ("user", "slot", "bot"...); otherwise None."""
    if not isinstance(subschemas, list) or not subschemas:
        return None
    consts = []
    for sub in subschemas:
        props = sub.get("properties") if isinstance(sub, dict) else None
        if not isinstance(props, dict):
            return None
        consts.append(
            {k: v["const"] for k, v in props.items() if isinstance(v, dict) and isinstance(v.get("const"), str)}
        )
    for key in sorted(set.intersection(*(set(c) for c in consts))):
        table = {c[key]: sub for c, sub in zip(consts, subschemas, strict=True)}
        if len(table) == len(subschemas):  # a constant of its own each
            return key, table
    return None


_discriminators: dict[int, tuple[Any, tuple[str, dict[str, Any]] | None]] = {}


def _one_of_by_discriminator(validator: Any, subschemas: Any, instance: Any, schema: Any) -> Any:
    """``oneOf`` for validity only: an object whose discriminating property names one subschema is valid under the
    ``oneOf`` exactly when it is valid under that one (every other subschema wants another constant there), so the
    other 22 of Rasa's event schemas are not tried, nor re-checked each with a new validator. Anything else goes the
    standard way."""
    from jsonschema import _validators as standard

    known = _discriminators.get(id(subschemas))
    if known is None or known[0] is not subschemas:
        known = _discriminators[id(subschemas)] = (subschemas, _discriminator(subschemas))
    found = known[1]
    if found is not None and isinstance(instance, dict):
        key, table = found
        value = instance.get(key)
        if isinstance(value, str) and value in table:
            yield from validator.descend(instance, table[value])
            return
    yield from standard.oneOf(validator, subschemas, instance, schema)


def constant_answer_schema() -> None:
    """Rasa builds the action server's answer schema anew at every answer; it is constant, so it and its validators
    are built once."""
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    register(schema)
    RemoteAction.action_response_format_spec = staticmethod(lambda: schema)  # type: ignore[method-assign]


class _Borrowed:
    """``async with`` on a shared session that stays open for the next request (Rasa closes what it enters)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


try:  # a dependency of Rasa 3.6, not of ours: without it, the standard library writes every request
    import ujson
except ImportError:  # pragma: no cover
    ujson = None


def dumps(obj: Any) -> str:
    """ujson where it can (1.7-2.5 times faster on the 18 KB state of bench/rasa_action_call_bench.py), the standard
    library where it cannot."""
    if ujson is not None:
        try:
            return str(ujson.dumps(obj))
        except (TypeError, OverflowError, ValueError):
            pass
    return json.dumps(obj)


# An idle kept-alive connection is dropped by the client after this many seconds, well before the action server
# (Sanic: 120 s) closes it, so a request never goes out on a connection the server is closing.
KEEPALIVE_SECONDS = 15.0


_sessions: list[Any] = []  # the endpoints' sessions, closed when the server stops (``close_sessions``)


async def close_sessions() -> None:
    """Close the kept sessions and their connections (Rasa's ``after_server_stop``: otherwise aiohttp complains of
    an unclosed session at exit)."""
    while _sessions:
        held = _sessions.pop()
        if not held.closed:
            await held.close()


def pooled_endpoints() -> None:
    """Rasa opened a new aiohttp session (a new connection pool, a new TCP connection) for every request to the action
    server, and wrote each request's tracker state with the standard ``json``: at 20 concurrent conversations the two
    were about 8% of Rasa's CPU (py-spy, 2026-12-03). Here each endpoint keeps one session per event loop, with the
    headers, authentication and timeout Rasa gave it."""
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    def session(self: Any) -> _Borrowed:
        loop = asyncio.get_running_loop()
        held_loop, held = self.__dict__.get("_urp_session", (None, None))
        if held is None or held.closed or held_loop is not loop:  # a session belongs to the loop that opened it
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
            )
            held = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=dumps,
            )
            self.__dict__["_urp_session"] = (loop, held)
            _sessions.append(held)
        return _Borrowed(held)

    EndpointConfig.session = session  # type: ignore[assignment]


def event_classes() -> Any:
    """``Event.resolve_by_type`` as a table lookup: the same class for the same name, found without walking Rasa's
    whole Event class tree for every event.

    Rasa rebuilds its tracker from the stored events at every message, and for each event it looked the class up
    with ``all_subclasses(Event)``: 30 recursive calls and 49 ``inspect.isabstract`` checks per event, about 55% of
    the tracker store's read (cProfile, a 152-event conversation: 20 reads, 0.25 s of 0.45 s in that walk). The table
    keeps the walk's first match per name, so a name two classes share resolves as before, and a name it does not
    know (an Event subclass imported later) walks the tree again before Rasa's own answer (its ``default``, None for
    the old "topic" events, or ValueError)."""
    from rasa.shared.core import events
    from rasa.shared.utils.common import all_subclasses

    table: dict[str, Any] = {}

    def rebuild() -> None:
        table.clear()
        for cls in all_subclasses(events.Event):
            table.setdefault(cls.type_name, cls)

    original = events.Event.resolve_by_type

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        found = table.get(type_name)
        if found is None:
            rebuild()
            found = table.get(type_name)
        return found if found is not None else original(type_name, default)

    return staticmethod(resolve_by_type)


def sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Rasa's SQLite tracker store in WAL mode with ``synchronous=NORMAL``, as the CRM's own database.

    Rasa opens it with SQLAlchemy's defaults: a rollback journal and a synced commit, on its event loop (the tracker
    store's calls are synchronous), and the CRM's erasure of a citizen's events (crm.contacts.erasure.purge_tracker)
    made Rasa's reads wait for its lock, the whole server with them. In WAL mode readers never wait for the writer
    and a commit is synced only at checkpoints (0.84 ms a commit before, 0.04 ms after, on the test machine; Rasa's
    whole save, 3.5-4.8 ms, is mostly its own Python either way). A power cut can lose the last commits' events,
    never the file; the conversation itself is the CRM's. PostgreSQL connections are left alone."""
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # the CRM's erasure deletes a citizen's events, zeroed, and checkpoints: Rasa's next write then empties the WAL
    # instead of leaving the old page images in it (crm/db.py, zero_what_is_deleted)
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA journal_size_limit=0")
    cur.close()


def pooled_sqlite() -> None:
    """Rasa's SQLite tracker store keeps its connection instead of opening one per session.

    SQLAlchemy 1.4 gives a file SQLite database no pool (NullPool): every read and every save of a tracker opened a
    new connection and ran ``sqlite_wal``'s pragmas, 0.57 ms of CPU a session against 0.11 ms with a pool (measured
    in .venv-rasa, 200 sessions), two sessions a message. Rasa uses the store from its event loop's thread; the
    pool's connections may move between threads, which SQLite's serialized mode allows. PostgreSQL is untouched
    (Rasa pools it already)."""
    from rasa.core import tracker_store
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import QueuePool

    original = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs = dict(original(url))
        parsed = make_url(url)
        on_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        if on_file and "poolclass" not in kwargs:  # an in-memory database keeps SQLAlchemy's one-connection pool
            kwargs["poolclass"] = QueuePool
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "check_same_thread": False}
        return kwargs

    tracker_store.create_engine_kwargs = create_engine_kwargs


def core_tracker_statements() -> None:
    """Rasa's SQL tracker store reads and writes the same rows with SQLAlchemy Core statements built once, instead
    of its ORM query rebuilt at every call.

    Profiled with py-spy at 20 concurrent conversations (bench/bot_bench.py, 3 December 2026), with the two fixes
    above in place, the tracker store was still about a quarter of Rasa's serving CPU: a save counted the stored
    events through an ORM query with a subquery, compiled anew each time (half of the save), then flushed an ORM
    object per new event; a read loaded an ORM object per stored event to use its ``data``. Here the same SQL
    filter (this sender's events from their latest ``session_started`` on, or all of them), the same order (by
    id), the same columns written, one INSERT for the new events; the statements are built once per table, so
    SQLAlchemy's compiled cache serves them. Any dialect: SQLite embedded, PostgreSQL at scale."""
    import itertools

    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    built: dict[tuple[Any, str], Any] = {}

    def statement(table: Any, kind: str) -> Any:
        """``kind``: "session" (the events of the latest session, Rasa's retrieve), "all" (every session), or
        "count" (how many of the latest session's events are stored, Rasa's save)."""
        key = (table, kind)
        if key not in built:
            sender = sa.bindparam("sender_id")
            where = table.c.sender_id == sender
            if kind != "all":
                start = (
                    sa.select(sa.func.max(table.c.timestamp))
                    .where(table.c.sender_id == sender, table.c.type_name == SessionStarted.type_name)
                    .scalar_subquery()
                )
                where = sa.and_(where, sa.or_(table.c.timestamp >= start, start.is_(None)))
            if kind == "count":
                built[key] = sa.select(sa.func.count()).select_from(table).where(where)
            else:
                built[key] = sa.select(table.c.data).where(where).order_by(table.c.id)
        return built[key]

    async def _retrieve(self: Any, sender_id: str, fetch_events_from_all_sessions: bool) -> Any:
        table = self.SQLEvent.__table__
        with self.session_scope() as session:
            stmt = statement(table, "all" if fetch_events_from_all_sessions else "session")
            rows = session.execute(stmt, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self: Any, tracker: Any) -> None:
        await self.stream_events(tracker)
        table = self.SQLEvent.__table__
        with self.session_scope() as session:
            stored = session.execute(statement(table, "count"), {"sender_id": tracker.sender_id}).scalar_one()
            rows = []
            for event in itertools.islice(tracker.events, stored, len(tracker.events)):
                data = event.as_dict()
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(table.insert(), rows)
            session.commit()

    SQLTrackerStore._retrieve = _retrieve  # type: ignore[method-assign]
    SQLTrackerStore.save = save  # type: ignore[method-assign]


# TensorFlow's thread pools for Rasa's NLU, unless the operator sets them (the variables Rasa reads at start)
TF_POOLS = ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS")


def single_threaded_tensorflow() -> None:
    """One thread in each of TensorFlow's pools. Rasa parses one small message at a time on its event loop; with
    TensorFlow's default pools (a thread per core) each parse handed its few small operations to other threads and
    cost more CPU, not less time: on the 2-core machine 9-13 ms of CPU a parse against 7.6-8.9 ms with one thread,
    and no slower one at a time (/model/parse on the 95 probe questions, 1 and 4 at once, runs alternated,
    2026-12-04)."""
    for name in TF_POOLS:
        os.environ.setdefault(name, "1")


def concrete_predict() -> None:
    """DIET's prediction calls its ``tf.function`` through TensorFlow's polymorphic dispatch, which canonicalises the
    inputs against the signature and looks the graph up again at every call (py-spy at 20 concurrent conversations
    put about a tenth of Rasa's samples there, 2026-12-04). The signature is fixed (Rasa builds it with every
    dimension but the last left open), so there is one graph: once Rasa's own path has built it (the warm-up
    prediction when the model loads), batches whose tensors fit that signature go straight to it: 0.1-1.6 ms less
    CPU a parse, 0.75 ms on average (eight alternated passes over the 95 probe questions, 2026-12-04), with the same
    intents, rankings and entities. Anything else takes Rasa's own path."""
    from keras.utils import tf_utils
    from rasa.shared.constants import DIAGNOSTIC_DATA
    from rasa.utils.tensorflow.models import RasaModel
    from tensorflow.python.framework import ops

    standard = RasaModel._rasa_predict

    def _rasa_predict(self: Any, batch_in: Any) -> Any:
        held = self.__dict__.get("_urp_graph")
        if held is None or held[0] is not self._tf_predict_step or self._run_eagerly:
            outputs = standard(self, batch_in)
            step = self._tf_predict_step
            if step is not None and not self._run_eagerly:
                graph = step.get_concrete_function()
                specs = tuple(graph.structured_input_signature[0][0])
                self.__dict__["_urp_graph"] = (step, graph, specs)
            return outputs
        _, graph, specs = held
        if len(batch_in) != len(specs) or not all(
            getattr(x, "dtype", None) == spec.dtype.as_numpy_dtype
            and len(x.shape) == len(spec.shape)
            and (not x.shape or spec.shape[-1] is None or x.shape[-1] == spec.shape[-1])
            for x, spec in zip(batch_in, specs, strict=True)
        ):
            return standard(self, batch_in)
        self._training = False
        flat = [ops.convert_to_tensor(x, dtype=spec.dtype) for x, spec in zip(batch_in, specs, strict=True)]
        outputs = tf_utils.sync_to_numpy_or_python_type(graph._call_flat(flat, graph.captured_inputs))
        if DIAGNOSTIC_DATA in outputs:
            outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
        return outputs

    RasaModel._rasa_predict = _rasa_predict  # type: ignore[method-assign]


def install() -> None:
    single_threaded_tensorflow()
    concrete_predict()
    # Rasa imports it inside the function at every call (rasa.core.actions.action.RemoteAction), so the module's
    # attribute is what it finds
    jsonschema.validate = validate
    constant_answer_schema()
    pooled_endpoints()
    from rasa.shared.core.events import Event

    Event.resolve_by_type = event_classes()  # type: ignore[method-assign]
    pooled_sqlite()
    core_tracker_statements()
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", sqlite_wal)  # every engine of this process: Rasa's tracker store is the one
    import rasa.core.run

    original = rasa.core.run.load_agent_on_start

    async def load_agent_then_freeze(*args: Any, **kwargs: Any) -> Any:
        agent = await original(*args, **kwargs)
        # the model, TensorFlow and Rasa's modules are millions of objects that live as long as the process: a full
        # collection walked them all and stopped the server 300-480 ms, once or twice a minute under load
        # (bench/bot_bench.py, 20 conversations at once: every reply in flight waited). Frozen, collections skip them.
        gc.collect()
        gc.freeze()
        return agent

    rasa.core.run.load_agent_on_start = load_agent_then_freeze
    original_close = rasa.core.run.close_resources

    async def close_resources_and_sessions(*args: Any, **kwargs: Any) -> None:
        await original_close(*args, **kwargs)
        await close_sessions()

    rasa.core.run.close_resources = close_resources_and_sessions


if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
