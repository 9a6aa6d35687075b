"""Who may do what with conversations: read by the API's ``@authorized``, the console's guards and the commands."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see conversations", roles=(*STAFF, SERVICE))
HANDLE = Policy(
    "handle a conversation (take, reply, note, transfer, return to the assistant)",
    roles=("admin", "operator", "phone_operator"),
)
HANDOFF = Policy("hand a conversation to the operators", roles=(*HANDLE.roles, SERVICE))
CLOSE = Policy("close a conversation", roles=(*HANDLE.roles, SERVICE))
RATE = Policy(
    "answer the satisfaction question of a conversation (the citizen, through the channel hub)", roles=(SERVICE,)
)
ESCALATE = Policy("escalate a handed-off chat whose first-response time ran out (the scheduler)", roles=(SERVICE,))
TRANSCRIPT = Policy(
    "send a conversation's transcript by e-mail to the citizen who asks for it (through the channel hub)",
    roles=(SERVICE,),
)
