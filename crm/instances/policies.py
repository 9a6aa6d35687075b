"""Who may do what with istanze: read by the API's ``@authorized``, the console's guards and the commands.

The office decides (take in charge, ask for an integration, accept, reject); whoever files for a citizen, and the
citizen themselves, may add an integration or withdraw."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see istanze", roles=(*STAFF, SERVICE), citizen=True)
SUBMIT = Policy("file an istanza", roles=("admin", "operator", "phone_operator", "backoffice", SERVICE), citizen=True)
HANDLE = Policy("decide on an istanza", roles=("admin", "backoffice", "operator"))
WITHDRAW = Policy("withdraw an istanza", roles=(*HANDLE.roles, "phone_operator", SERVICE), citizen=True)
ATTACH = Policy("add an attachment to an open istanza", roles=SUBMIT.roles, citizen=True)
INTEGRATE = Policy("answer an integration request", roles=SUBMIT.roles, citizen=True)
MANAGE = Policy("manage instance types and reference lists", roles=("admin",))
LOOKUP = Policy("look up an istanza by code and second factor", roles=(SERVICE, *STAFF))
