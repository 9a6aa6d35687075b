"""Citizen notifications through one outbox: sent once, retried with backoff, surviving restarts.

Bookings and istanze ``enqueue`` in their own transaction; the scheduler's ``dispatch_due`` hands each row to the
``Sender`` of its channel (Twilio SMS, Telegram, e-mail from ``channels/``; a log sender until they are configured).
"""
