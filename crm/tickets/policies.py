"""Who may do what with requests (tickets): read by the API's ``@authorized``, the console's guards and the commands.

The phone desk opens requests on a caller's behalf and follows them; handling them (taking, status, notes,
assignment, priority) is for the URP's operators and the back-office, who receive them by automatic assignment.
"""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see requests", roles=(*STAFF, SERVICE))
OPEN = Policy("open a request", roles=(*STAFF, SERVICE), citizen=True)
HANDLE = Policy("handle a request", roles=("admin", "operator", "backoffice"))
FILE = Policy(
    "attach a file to a request (the phone desk for its caller, the operators)",
    roles=("admin", "operator", "phone_operator", "backoffice"),
)
