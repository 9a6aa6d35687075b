"""What a citizen may do on the sportello digitale's own records: their istanza drafts, only their own."""

from __future__ import annotations

from crm.core.commands import Policy

DRAFT = Policy("save or discard one's own istanza draft", roles=(), citizen=True)
