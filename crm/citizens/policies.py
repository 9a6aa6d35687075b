"""What a citizen may do on the sportello digitale about their own profile: only on their own contact, never for
anyone else (no staff role makes these changes: operators merge contacts with ``crm.contacts.policies.MERGE``)."""

from __future__ import annotations

from crm.core.commands import Policy

VISIT = Policy("leave one's details with a booking or a segnalazione without signing in", roles=(), citizen=True)
MERGE = Policy("fold one's own duplicate contacts into one's profile, or refuse", roles=(), citizen=True)
LINK_CHAT = Policy("link one's chat session to one's profile", roles=(), citizen=True)
