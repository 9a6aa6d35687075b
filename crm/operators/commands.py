"""Every change to staff accounts, one function each: permission, service call, audit line, live event. Passwords
never reach the audit line; nobody changes their own role or switches their own account off (the service refuses).
"""

from __future__ import annotations

from typing import Any

from crm.core.commands import Context, command
from crm.operators import policies
from crm.operators import service as svc
from crm.operators.models import Operator
from crm.operators.schemas import OperatorIn, OperatorPatch

TRACKED = ("full_name", "email", "role", "topics", "active")


def _state(op: Operator) -> dict[str, Any]:
    return {
        "full_name": op.full_name,
        "email": op.email,
        "role": op.role,
        "topics": sorted(t.slug for t in op.topics),
        "active": op.active,
    }


@command(policies.MANAGE)
async def create(cx: Context, *, data: OperatorIn) -> Operator:
    op = await svc.create(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record(
        "create", "operator", op.id, details={"username": op.username, "role": op.role, "topics": data.topics}
    )
    return op


@command(policies.MANAGE)
async def update(cx: Context, *, operator_id: int, data: OperatorPatch) -> Operator:
    """Name, e-mail, role, topics, active and (without recording it) the password. Switching an account on or off
    alone is recorded as activate/deactivate."""
    old = _state(await svc.get(cx.session, ente_id=cx.ente_id, operator_id=operator_id))
    # the service refuses one's own role change or deactivation, and ends the sessions a role, password or
    # deactivation invalidates (except the caller's own)
    op = await svc.update(
        cx.session,
        ente_id=cx.ente_id,
        operator_id=operator_id,
        data=data,
        keep_session=cx.principal.session_id,
        actor_id=cx.principal.operator_id,
    )
    new = _state(op)
    changed = [k for k in TRACKED if new[k] != old[k]]
    if changed == ["active"]:
        await cx.record("activate" if op.active else "deactivate", "operator", op.id, details={"username": op.username})
    elif changed or data.password is not None:
        await cx.record(
            "update",
            "operator",
            op.id,
            details={
                "fields": changed + (["password"] if data.password is not None else []),
                "from": {k: old[k] for k in changed},
                "to": {k: new[k] for k in changed},
            },
        )
    return op


@command(policies.MANAGE)
async def set_active(cx: Context, *, operator_id: int, active: bool) -> Operator:
    """Switch an account off (its tokens stop working at once) or on again."""
    return await update(cx, operator_id=operator_id, data=OperatorPatch(active=active))


@command(policies.MANAGE)
async def reset_password(cx: Context, *, operator_id: int, password: str, generated: bool = False) -> Operator:
    """A new password set by an administrator: the operator's other sessions end, the sign-in throttle lifts."""
    op = await svc.reset_password(
        cx.session, ente_id=cx.ente_id, operator_id=operator_id, password=password, keep_session=cx.principal.session_id
    )
    await cx.record("password_reset", "operator", op.id, details={"username": op.username, "generated": generated})
    return op
