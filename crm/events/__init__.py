"""Live events: ``/api/v1/events`` streams what ``crm.core.events.emit`` publishes (re-exported here)."""

from __future__ import annotations

from crm.core.events import emit

__all__ = ["emit"]
