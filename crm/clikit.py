"""What every ``urp`` sub-command shares (``crm/cli.py`` and the modules' own ``cli.py``): running a coroutine and
opening one transaction on URP_DATABASE_URL with the whole schema loaded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from crm.config import get_settings

T = TypeVar("T")


def run_async(fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
    return asyncio.run(fn(*args, **kw))


async def with_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` in one transaction against URP_DATABASE_URL."""
    from crm.db import make_engine, make_sessionmaker, transaction
    from crm.registry import load_models

    load_models()
    engine = make_engine(get_settings().database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            return await work(s)
    finally:
        await engine.dispose()
