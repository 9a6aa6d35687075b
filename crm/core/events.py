"""Live events for operators' screens: commands publish "something changed" hints after their transaction commits;
``/api/v1/events`` streams them (SSE) to the console."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("urp.events")


async def emit(app: Any, ente_id: int, event: dict[str, Any]) -> None:
    """Publish to everyone watching this ente (all replicas when Redis is configured). Never raises."""
    try:
        await app.ctx.pubsub.publish(f"ente:{ente_id}", event)
    except Exception:  # noqa: BLE001 - live updates are best effort; the database stays the truth
        log.warning("could not publish event %s", event.get("type"))
