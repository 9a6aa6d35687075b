"""Who may read and write the quick replies: every operator reads them in the composer; admins write them."""

from __future__ import annotations

from crm.core.auth import STAFF
from crm.core.commands import Policy

VIEW = Policy("read the quick replies", roles=STAFF)
MANAGE = Policy("create, edit and delete quick replies", roles=("admin",))
