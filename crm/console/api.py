"""The console's blueprint with every screen registered on it. The shared kit (``bp``, templates, labels, role lists,
``render``) is ``crm/console/kit.py``; each screen module adds its routes to ``kit.bp`` when imported here."""

from __future__ import annotations

from crm.console import (
    admin,
    agenda,
    backoffice,
    bookings_admin,
    composer,
    dashboard,
    inbox,
    intake,
    kb,
    people,
    replies,
    requests_desk,
    signin,
    transcripts,
)
from crm.console.kit import bp

SCREENS = (
    signin,
    inbox,
    people,
    intake,
    requests_desk,
    agenda,
    bookings_admin,
    backoffice,
    kb,
    dashboard,
    admin,
    replies,
    composer,
    transcripts,
)

__all__ = ["SCREENS", "bp"]
