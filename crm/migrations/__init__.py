"""Alembic migrations. Each domain module keeps its own branch off ``0001_foundation``; we upgrade to ``heads``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from crm.db import ensure_sqlite_dir, sync_url

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", sync_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, target: str = "heads") -> None:
    ensure_sqlite_dir(database_url)
    command.upgrade(alembic_config(database_url), target)
