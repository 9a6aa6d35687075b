"""Enti (tenants): one installation serves one or more municipalities."""
