"""Import every domain package's models so SQLAlchemy's metadata (foreign keys, Alembic) sees the whole schema."""

from __future__ import annotations

import importlib
from functools import cache


@cache
def load_models() -> None:
    from crm.app import MODULES

    importlib.import_module("crm.core.ratelimit")  # shared tables of the core helpers
    importlib.import_module("crm.core.sessions")
    for module in ["crm.entes", "crm.notifications", *MODULES]:
        try:
            importlib.import_module(f"{module}.models")
        except ModuleNotFoundError as exc:
            if exc.name not in (f"{module}.models", module):
                raise
