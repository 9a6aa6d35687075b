"""Who may do what with the knowledge base: read by the API's ``@authorized``, the console's guards and the
commands. Admins curate the articles; operators read them; the assistant reads and reports helpfulness."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("read the knowledge base", roles=(*STAFF, SERVICE))
CURATE = Policy("write, publish, archive and restore articles; handle the gap list", roles=("admin",))
FEEDBACK = Policy("say whether an answer helped", roles=(*STAFF, SERVICE), citizen=True)
