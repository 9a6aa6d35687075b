"""Who may see and manage staff accounts: read by the API's ``@authorized``, the console's guards and
the commands."""

from __future__ import annotations

from crm.core.auth import STAFF
from crm.core.commands import Policy

VIEW = Policy("see the staff", roles=STAFF)
MANAGE = Policy("create and change staff accounts", roles=("admin",))
