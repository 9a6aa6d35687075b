"""Who may do what with contacts (citizens' personal data): read by the API's ``@authorized``, the console's guards
and the commands. Every read of a contact is audited as well."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see contacts", roles=(*STAFF, SERVICE), citizen=True)
REGISTER = Policy("register a contact", roles=(*STAFF, SERVICE))
EDIT = Policy("change a contact's details or consents", roles=(*STAFF, SERVICE), citizen=True)
MERGE = Policy("merge duplicate contacts", roles=("admin", "operator", "phone_operator"))
EXPORT = Policy("export a contact's data (GDPR)", roles=("admin", "operator"), citizen=True)
ERASE = Policy("erase a contact's data (GDPR)", roles=("admin",))
CHANNELS = Policy("change a contact's channel opt-outs and identities", roles=(*STAFF, SERVICE), citizen=True)
CAPTURE = Policy("fill a contact's empty details with what the citizen gave the assistant", roles=(SERVICE,))
RESOLVE = Policy("resolve a conflict between the contact's details and the citizen's", roles=STAFF)
