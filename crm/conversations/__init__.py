"""Conversations and messages on every channel: the CRM owns them (bot mode, waiting, assigned, closed)."""
