"""Who a token stands for: an active operator (by the id in its JWT) or an ente's service token. The core's
credential check (``crm.core.auth``) asks this store, set on ``app.ctx.principals`` by ``crm.operators.setup``."""

from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.auth import SERVICE, Principal, hash_token
from crm.core.errors import Unauthorized
from crm.entes.models import Ente, ServiceToken
from crm.operators.models import Operator


class Principals:
    def __init__(self) -> None:
        # the default ente's id by slug: asked on every action-server call with the environment's token (one read
        # session and a query each time); an ente's slug never changes and no ente is ever deleted
        self._ente_ids: dict[str, int] = {}

    async def operator(self, session: AsyncSession, operator_id: int) -> Principal | None:
        op = await session.get(Operator, operator_id)
        if op is None or not op.active:
            return None
        return Principal(ente_id=op.ente_id, role=op.role, operator_id=op.id, username=op.username)

    async def service(self, session: AsyncSession, token: str, settings: Any) -> Principal | None:
        env_token = settings.service_token.get_secret_value() if settings.service_token else None
        if env_token and hmac.compare_digest(env_token.encode(), token.encode()):
            ente_id = self._ente_ids.get(settings.default_ente)
            if ente_id is None:
                ente_id = await session.scalar(select(Ente.id).where(Ente.slug == settings.default_ente))
                if ente_id is None:
                    raise Unauthorized("default ente not initialised; run `urp demo seed` or `urp entes create`")
                self._ente_ids[settings.default_ente] = ente_id
            return Principal(ente_id=ente_id, role=SERVICE, operator_id=None, username="service")
        row = await session.scalar(
            select(ServiceToken).where(ServiceToken.token_hash == hash_token(token), ServiceToken.revoked_at.is_(None))
        )
        if row is None:
            return None
        return Principal(ente_id=row.ente_id, role=SERVICE, operator_id=None, username=f"service:{row.name}")
