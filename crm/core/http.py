"""The HTTP edge: parse and validate bodies/queries with pydantic, render JSON, paginate lists."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import BadRequest, ValidationFailed

M = TypeVar("M", bound=BaseModel)


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
        raise ValidationFailed(
            "invalid fields: " + ", ".join(sorted(fields)), fields=fields
        ) from None


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
    return validate(model, data)


def parse_query(request: Request, model: type[M]) -> M:
    data = {k: (v[0] if len(v) == 1 else v) for k, v in request.args.items()}
    return validate(model, data)


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
