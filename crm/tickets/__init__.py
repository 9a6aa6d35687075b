"""Requests (tickets, "richieste"): information requests, segnalazioni, complaints, with priority and SLA.

Named ``tickets`` in code to keep ``requests`` (HTTP) unambiguous; the API path is ``/api/v1/requests``.
"""
