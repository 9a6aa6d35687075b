"""`rasa` (run by .venv-rasa's Python, from scripts/rasa_run.sh) with one fix to Rasa 3.6's cost per message.

Rasa checks every answer of the action server with ``jsonschema.validate(result, schema)``, and ``validate`` first
checks the schema itself against its metaschema, on every call: with jsonschema 4.17 that check of Rasa's constant
events schema cost 24 ms of CPU, the answer's own validation 0.6 ms, and a turn calls the action server once or
twice (a form's validation action too). Measured with py-spy at 20 concurrent conversations (2026-12-02), it was
about half of Rasa's CPU per message. Here ``jsonschema.validate`` checks each distinct schema once per process,
then validates as before: the same errors, raised the same way.

Two more: the heap is frozen once the model is loaded (below), and Rasa's SQLite tracker store runs in WAL mode, as
the CRM's database does (``sqlite_wal``)."""

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


def install() -> None:
    # Rasa imports it inside the function at every call (rasa.core.actions.action.RemoteAction), so the module's
    # attribute is what it finds
    jsonschema.validate = validate
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
