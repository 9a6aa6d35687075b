"""Who may do what in the booking centre: read by the API's ``@authorized``, the console's guards and the commands."""

from __future__ import annotations

from crm.core.auth import SERVICE, STAFF
from crm.core.commands import Policy

VIEW = Policy("see bookings and calendars", roles=(*STAFF, SERVICE))
MANAGE = Policy("manage services, calendars, locations and resources", roles=("admin",))
BOOK = Policy("book an appointment", roles=("admin", "operator", "phone_operator", SERVICE), citizen=True)
CANCEL = Policy("cancel a booking", roles=BOOK.roles, citizen=True)
RESCHEDULE = Policy("move a booking", roles=BOOK.roles, citizen=True)
MARK = Policy("mark a booking attended or no-show", roles=("admin", "operator", "phone_operator", "backoffice"))
LOOKUP = Policy("look up a booking by code and second factor", roles=(SERVICE, *STAFF))
