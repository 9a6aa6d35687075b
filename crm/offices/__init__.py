"""Offices (uffici) and their topics (ambiti): the routing keys for requests, handoffs and competences."""
