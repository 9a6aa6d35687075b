from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import engine_from_config, pool

from crm.app import MODULES
from crm.db import Base

# import every module's models so autogenerate and checks see the whole schema
for _m in ["crm.entes", "crm.notifications", *MODULES]:
    try:
        importlib.import_module(f"{_m}.models")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_m}.models" and exc.name != _m:
            raise

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
