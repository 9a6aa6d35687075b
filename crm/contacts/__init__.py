"""Citizens (contatti): identity data, phones, e-mails, channel identities, consents; search and merge."""

from typing import Any


def setup(app: Any) -> None:
    """Retention: old conversations and bot-only sessions are anonymised by the scheduler."""
    from crm import scheduler
    from crm.contacts import retention

    scheduler.register("retention", retention.job)
