"""`rasa` (run by .venv-rasa's Python, from scripts/rasa_run.sh) with one fix to Rasa 3.6's cost per message.

Rasa checks every answer of the action server with ``jsonschema.validate(result, schema)``, and ``validate`` first
checks the schema itself against its metaschema, on every call: with jsonschema 4.17 that check of Rasa's constant
events schema cost 24 ms of CPU, the answer's own validation 0.6 ms, and a turn calls the action server once or
twice (a form's validation action too). Measured with py-spy at 20 concurrent conversations (2026-12-02), it was
about half of Rasa's CPU per message. Here ``jsonschema.validate`` checks each distinct schema once per process,
then validates as before: the same errors, raised the same way; nothing else of Rasa changes."""

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


def install() -> None:
    # Rasa imports it inside the function at every call (rasa.core.actions.action.RemoteAction), so the module's
    # attribute is what it finds
    jsonschema.validate = validate
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
