"""Live events for operators' screens: services publish "something changed" hints; /api/v1/events streams them (SSE)."""

from __future__ import annotations

from typing import Any


async def emit(app: Any, ente_id: int, event: dict[str, Any]) -> None:
    """Publish to everyone watching this ente (all replicas when Redis is configured). Never raises."""
    try:
        await app.ctx.pubsub.publish(f"ente:{ente_id}", event)
    except Exception:  # noqa: BLE001 - live updates are best effort; the database stays the truth
        import logging

        logging.getLogger("urp.events").warning("could not publish event %s", event.get("type"))
