"""The audit log's table lives in ``crm.core.audit`` (every command writes it); re-exported for the admin API."""

from __future__ import annotations

from crm.core.audit import AuditEntry

__all__ = ["AuditEntry"]
