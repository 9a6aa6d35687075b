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
if sys.argv[1] == "patched":
    rasa_serve.install()
import jsonschema
from jsonschema import validators
from rasa.core.actions.action import RemoteAction

spec = RemoteAction.action_response_format_spec()
cls = validators.validator_for(spec)
checks = []
plain_check = cls.check_schema.__func__
cls.check_schema = classmethod(lambda c, schema, *a, **k: (checks.append(1), plain_check(c, schema, *a, **k))[1])

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


def _run(script: str, *args: str) -> dict[str, object]:
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
