"""`rasa` (run by .venv-rasa's Python, from scripts/rasa_run.sh) with one fix to Rasa 3.6's cost per message.

Rasa checks every answer of the action server with ``jsonschema.validate(result, schema)``, and ``validate`` first
checks the schema itself against its metaschema, on every call: with jsonschema 4.17 that check of Rasa's constant
events schema cost 24 ms of CPU, the answer's own validation 0.6 ms, and a turn calls the action server once or
twice (a form's validation action too). Measured with py-spy at 20 concurrent conversations (2026-12-02), it was
about half of Rasa's CPU per message. Here ``jsonschema.validate`` checks each distinct schema once per process,
then validates as before: the same errors, raised the same way.

More, each below: the heap is frozen once the model is loaded; Rasa's SQLite tracker store runs in WAL mode, as the
CRM's database does (``sqlite_wal``), and keeps its connection (``pooled_sqlite``); an event's class is found by a
table lookup (``event_classes``)."""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import jsonschema
from jsonschema import exceptions, validators

_checked: set[tuple[type, str]] = set()  # (validator class, the schema as canonical JSON) already found valid
_original_validate = jsonschema.validate


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema's own check done once per distinct schema (a schema that fails it
    fails again on every call, as before)."""
    if cls is None:
        cls = validators.validator_for(schema)
    try:
        key = (cls, json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):  # not plain JSON: no key to remember it by
        _original_validate(instance, schema, cls, *args, **kwargs)
        return
    if key not in _checked:
        cls.check_schema(schema)
        _checked.add(key)
    error = exceptions.best_match(cls(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


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


def install() -> None:
    # Rasa imports it inside the function at every call (rasa.core.actions.action.RemoteAction), so the module's
    # attribute is what it finds
    jsonschema.validate = validate
    from rasa.shared.core.events import Event

    Event.resolve_by_type = event_classes()  # type: ignore[method-assign]
    pooled_sqlite()
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


if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
