"""The one door for every change a user can make (Netflix Dispatch's ``flows.py``, in our words).

A domain's ``commands.py`` has one function per change (``bookings.commands.cancel``, ``...book``...). Each takes a
``Context`` first and keyword arguments after, and:

1. runs in the context's transaction (the context opens it, or the caller's context is joined),
2. checks the permission with the domain's ``Policy`` (``cx.allow(policy, owner=...)``),
3. calls the domain's service (plain functions, no HTTP),
4. writes the audit line with ``cx.record(...)``, which also queues the live event,
5. returns what it changed; the events go out only after the transaction has committed.

API handlers, console screens, channel webhooks and the CLI only parse input, open a context, call a command and
shape the output. Reads the audit log must see (citizen data) go through ``cx.read(...)`` in the same way.

    async with commands.begin(request) as cx:          # or acting(app, principal) outside a request
        done = await bookings_commands.cancel(cx, booking_id=7, reason="ufficio chiuso")
        body = BookingOut.of(done[0], ...)
    return json_ok(body)                                # the event was published when the block closed
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.core import audit
from crm.core.auth import Principal
from crm.core.errors import Forbidden, NotFound
from crm.core.events import emit
from crm.db import transaction

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Policy:
    """Who may make one kind of change: the staff and service roles, and whether a signed-in citizen may make it on
    their own records. It lives in the domain (``crm/<domain>/policies.py``), once: the API's ``@authorized``, the
    console's guard and the command itself all read it."""

    name: str
    roles: tuple[str, ...]
    citizen: bool = False  # a citizen may, on records whose contact is theirs

    @property
    def staff(self) -> tuple[str, ...]:
        """The roles that sign in to the console (for its page guards and menus)."""
        return tuple(r for r in self.roles if r != "service")

    def admits(self, principal: Principal, *, owner: int | None = None) -> bool:
        """``owner``: the contact the target record belongs to (for citizens)."""
        if principal.is_system:
            return True
        if principal.is_citizen:
            return self.citizen and owner is not None and owner == principal.contact_id
        return principal.role in self.roles

    def check(self, principal: Principal, *, owner: int | None = None, ente_id: int | None = None) -> None:
        if ente_id is not None and ente_id != principal.ente_id:
            raise NotFound("not found")  # another ente's record does not exist for this caller
        if principal.is_citizen and self.citizen and owner != principal.contact_id:
            raise NotFound("not found")  # a citizen sees no one else's records: they do not exist for them
        if not self.admits(principal, owner=owner):
            raise Forbidden(f"role {principal.role!r} may not {self.name}")


@dataclass
class Context:
    """One command's world: who acts, the open transaction, and the live events to publish after commit."""

    principal: Principal
    session: AsyncSession
    app: Any = None  # the Sanic app (its pubsub); None where nobody watches (CLI)
    details: dict[str, Any] = field(default_factory=dict)  # added to every audit line (e.g. the console screen)
    events: list[dict[str, Any]] = field(default_factory=list)
    after: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    changes: int = 0
    allowed: bool = False

    @property
    def ente_id(self) -> int:
        return self.principal.ente_id

    def allow(self, policy: Policy, *, owner: int | None = None, ente_id: int | None = None) -> None:
        """The permission check: raises Forbidden (403), or NotFound for another ente's record."""
        policy.check(self.principal, owner=owner, ente_id=ente_id)
        self.allowed = True

    async def record(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        *,
        details: dict[str, Any] | None = None,
        event: dict[str, Any] | None = None,
    ) -> audit.AuditEntry:
        """A change: its audit line now, in this transaction, and its live event after commit. The event is
        ``{"type": entity, "id": entity_id, "action": action, "audit_id": ...}`` updated with ``event``."""
        line = await audit.record(
            self.session,
            principal=self.principal,
            action=action,
            entity=entity,
            entity_id=entity_id,
            details={**(details or {}), **self.details},
        )
        await self.session.flush()
        self.events.append({"type": entity, "id": entity_id, "action": action, **(event or {}), "audit_id": line.id})
        self.changes += 1
        return line

    async def read(
        self, action: str, entity: str, entity_id: int | None, *, details: dict[str, Any] | None = None
    ) -> None:
        """A read of citizen data the audit log must show (who saw what): an audit line, no event."""
        await audit.record(
            self.session,
            principal=self.principal,
            action=action,
            entity=entity,
            entity_id=entity_id,
            details={**(details or {}), **self.details},
        )

    def after_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``fn`` once the transaction has committed (before the live events go out), e.g. a signal that makes
        the channel hub send a stored reply. Nothing runs if the transaction rolls back."""
        self.after.append(fn)

    async def publish(self) -> None:
        """After commit: the deferred work, then the live events."""
        for fn in self.after:
            await fn()
        self.after.clear()
        if self.app is not None:
            for event in self.events:
                await emit(self.app, self.ente_id, event)
        self.events.clear()


@asynccontextmanager
async def acting(
    app: Any,
    principal: Principal,
    *,
    maker: async_sessionmaker[AsyncSession] | None = None,
    details: dict[str, Any] | None = None,
) -> AsyncIterator[Context]:
    """Open a transaction for ``principal``: commit at the end of the block, then publish its live events; on any
    error, roll back and publish nothing. ``maker`` defaults to the app's sessionmaker."""
    if maker is None:
        maker = app.ctx.sessionmaker
    async with transaction(maker) as session:
        cx = Context(principal=principal, session=session, app=app, details=dict(details or {}))
        yield cx
    await cx.publish()


@asynccontextmanager
async def begin(request: Any, **details: Any) -> AsyncIterator[Context]:
    """The context of a request (its principal, set by ``@authorized`` or the console's guard). Inside another
    ``begin`` of the same request it joins that one: one transaction, events after the outer commit."""
    current: Context | None = getattr(request.ctx, "command_context", None)
    if current is not None:
        yield current
        return
    async with acting(request.app, request.ctx.principal, details=details) as cx:
        request.ctx.command_context = cx
        try:
            yield cx
        finally:
            request.ctx.command_context = None


COMMANDS: dict[str, Policy] = {}  # "bookings.cancel" -> its policy: what the report and the docs count


CommandFn = Callable[Concatenate[Context, P], Awaitable[R]]


def command(policy: Policy) -> Callable[[CommandFn[P, R]], CommandFn[P, R]]:
    """Mark a function as a command of ``policy``. Without a citizen arm the policy is checked before the body
    runs; with one, the body calls ``cx.allow(policy, owner=...)`` once it knows whose record it is. Either way a
    command that returns without its permission checked is a bug, and raises."""

    def decorate(fn: CommandFn[P, R]) -> CommandFn[P, R]:
        domain = fn.__module__.removeprefix("crm.").removesuffix(".commands")
        COMMANDS[f"{domain}.{fn.__name__}"] = policy

        @functools.wraps(fn)
        async def run(cx: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
            outer = cx.allowed
            cx.allowed = False
            if not policy.citizen:
                cx.allow(policy)
            try:
                result = await fn(cx, *args, **kwargs)
                if not cx.allowed:
                    raise RuntimeError(f"command {fn.__qualname__} did not check its policy")
                return result
            finally:
                cx.allowed = outer or cx.allowed

        run.__command__ = policy  # type: ignore[attr-defined]
        return run

    return decorate
