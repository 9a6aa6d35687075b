"""Append-only audit log: who saw or changed citizen data, and when."""
