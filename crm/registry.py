"""Import every domain package's models so SQLAlchemy's metadata (foreign keys, Alembic) sees the whole schema.

Called by the composition roots (the app, the CLI, Alembic's env, the tests' database helper) before they build an
engine: ``crm.db`` itself imports no domain.
"""

from __future__ import annotations

import importlib
from functools import cache

from crm.modules import MODULES, part


@cache
def load_models() -> None:
    importlib.import_module("crm.core.ratelimit")  # shared tables of the core helpers
    importlib.import_module("crm.core.sessions")  # server-side sessions of operators and citizens
    importlib.import_module("crm.core.audit")  # the audit log, written by every command
    for module in MODULES:
        part(module, "models")
