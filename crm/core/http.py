"""The HTTP edge: parse and validate bodies/queries with pydantic, render JSON, paginate lists."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sanic import Request
from sanic.response import HTTPResponse
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import BadRequest, NotFound, ValidationFailed
from crm.core.text import MAX_ID, bad_json_fields, clean_text, has_bad_chars, is_id_name

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, Decimal):
        return float(o)
    if isinstance(o, set | frozenset):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, ensure_ascii=False)


def json_ok(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return HTTPResponse(dumps(obj), status=status, headers=headers, content_type="application/json")


def download(body: bytes, content_type: str, filename: str) -> HTTPResponse:
    """A file to save (an export, a receipt): never cached (citizen data), never sniffed into something else."""
    return HTTPResponse(
        body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def validation_fields(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(loc, err["msg"])
    return fields


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = validation_fields(exc)
        raise ValidationFailed("invalid fields: " + ", ".join(sorted(fields)), fields=fields) from None


def parse_body(request: Request, model: type[M]) -> M:
    """400 for malformed JSON, 422 naming each invalid field."""
    raw = request.body or b""
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("malformed JSON body", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object", code="malformed_json")
    bad = bad_json_fields(data)
    if bad:
        raise ValidationFailed("invalid fields: " + ", ".join(sorted(bad)), fields=bad)
    return validate(model, data)


# integer query parameters whose names do not end in _id (those are bounded too): beyond the database's range
BOUNDED_QUERY = ("offset", "limit", "assignee", "location", "resource", "duration")


async def guard_request(request: Request) -> None:
    """Request middleware, before any handler: what no handler should have to think about.

    - an id in the path beyond the 32-bit range of our ids is a 404 (it cannot exist), not a database error;
    - a query parameter with control characters, or an id/offset/limit beyond that range, is a 422 naming it;
    - form fields (the console's) lose control characters, as a person never typed them. Channel webhooks keep
      their bodies intact (a provider's signature covers them) and clean texts in ``channels.base.Inbound``."""
    for name, value in (request.match_info or {}).items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise NotFound(f"{name} out of range")
    for name, values in request.args.items():
        for value in values:
            if has_bad_chars(name) or has_bad_chars(value):
                raise ValidationFailed(
                    f"query parameter {name!r} contains control characters",
                    fields={name if not has_bad_chars(name) else "query": "control characters"},
                )
            if (
                (is_id_name(name) or name in BOUNDED_QUERY)
                and value.lstrip("-").isdecimal()  # int() takes decimals; "¹" is a digit, not one
                and not 0 <= int(value) <= MAX_ID
            ):
                raise ValidationFailed(f"{name} out of range", fields={name: "out of range"})
    ctype = request.content_type or ""
    if (
        request.method in ("POST", "PUT", "PATCH")
        and not request.path.startswith("/channels/")
        and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    ):
        form = request.form
        if form:
            for name in list(form):
                form[name] = [clean_text(v) if isinstance(v, str) else v for v in form[name]]


def parse_query(request: Request, model: type[M]) -> M:
    data = {k: (v[0] if len(v) == 1 else v) for k, v in request.args.items()}
    return validate(model, data)


class ListOut(BaseModel, Generic[T]):
    """Every item of a short list at once (``ListOut.of(items)``); the document names it ``ListOut_<Model>_``."""

    model_config = ConfigDict(extra="forbid")
    items: list[T]
    total: int

    @classmethod
    def of(cls, items: Sequence[Any]) -> ListOut[Any]:
        return ListOut[Any](items=list(items), total=len(items))


class PageOut(ListOut[T], Generic[T]):
    """A page of a long list (``paginate``): ``total`` counts them all."""

    limit: int
    offset: int


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    sort: str | None


def page_params(request: Request, *, default_limit: int = 50, max_limit: int = 200) -> Page:
    def _int(name: str, default: int) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationFailed(f"{name} must be an integer", fields={name: "must be an integer"}) from None
        if value < 0:
            raise ValidationFailed(f"{name} must be >= 0", fields={name: "must be >= 0"})
        if value > MAX_ID:
            raise ValidationFailed(f"{name} out of range", fields={name: "out of range"})
        return value

    limit = min(_int("limit", default_limit), max_limit) or default_limit
    return Page(limit=limit, offset=_int("offset", 0), sort=request.args.get("sort"))


def apply_sort(stmt: Select[Any], page: Page, allowed: dict[str, Any], default: Sequence[Any]) -> Select[Any]:
    """``sort=field`` or ``sort=-field`` among an allow-list; anything else is a 422."""
    if not page.sort:
        return stmt.order_by(*default)
    clauses = []
    for part in page.sort.split(","):
        desc = part.startswith("-")
        name = part.lstrip("-+")
        col = allowed.get(name)
        if col is None:
            raise ValidationFailed(
                f"cannot sort by {name!r}; allowed: {', '.join(sorted(allowed))}", fields={"sort": "unknown field"}
            )
        clauses.append(col.desc() if desc else col.asc())
    return stmt.order_by(*clauses, *default)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    page: Page,
    render: Callable[[Any], Any],
    *,
    scalars: bool = True,
) -> dict[str, Any]:
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    result = await session.execute(stmt.limit(page.limit).offset(page.offset))
    rows = result.scalars().all() if scalars else result.all()
    return {"items": [render(r) for r in rows], "total": total or 0, "limit": page.limit, "offset": page.offset}
