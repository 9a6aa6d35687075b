"""URP staff accounts: roles, competence topics, hashed passwords, throttled login."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.operators.principals import Principals

    app.ctx.principals = Principals()  # read by crm.core.auth for every credential
