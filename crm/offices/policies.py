"""Who may see and create offices and topics (ambiti)."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see offices and topics", roles=(*STAFF, SERVICE))
MANAGE = Policy("create offices and topics", roles=("admin",))
