"""Istanze: formal requests with protocol numbers, a lifecycle and status notifications."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.instances.protocol import adapter_from_settings
    from crm.instances.service import process_protocol_outbox
    from crm.scheduler import register

    app.ctx.protocol = adapter_from_settings(app.ctx.settings)

    async def protocol_retry(app: Any) -> None:
        if not app.ctx.protocol.immediate:
            await process_protocol_outbox(app.ctx.sessionmaker, app.ctx.protocol)

    register("protocol-outbox", protocol_retry)

    async def probe(app: Any) -> dict[str, Any]:
        return {"status": "ok", "adapter": "local" if app.ctx.protocol.immediate else "http"}

    app.ctx.health["protocol"] = probe
