"""A small OpenAPI 3.1 generator over the Sanic router: routes declare summary/body/response with ``@openapi``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from crm.core.errors import ErrorOut
from crm.core.http import ListOut, PageOut
from crm.core.text import MAX_ID


def openapi(
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    many: bool | Literal["all"] = False,
    tags: list[str] | None = None,
    status: int | tuple[int, ...] = 200,
    media: tuple[str, ...] = (),
) -> Callable[[Any], Any]:
    """``response``: the model of the success body; ``many=True``: a page of them (``crm.core.http.PageOut``, with
    the page parameters), ``many="all"``: all of them (``ListOut``);
    ``status``: the success status(es), 201 for a creation, 204 for no body; ``media``: the types of a body that is
    not JSON (a PDF, a calendar, an event stream), instead of ``response``."""

    def decorator(handler: Any) -> Any:
        handler.__openapi__ = {
            "summary": summary,
            "body": body,
            "response": response,
            "query": query,
            "many": many,
            "tags": tags,
            "status": (status,) if isinstance(status, int) else status,
            "media": media,
        }
        return handler

    return decorator


REF = "#/components/schemas/{model}"


class DocumentOut(BaseModel):
    """This document (``GET /api/v1/openapi.json``)."""

    openapi: str
    info: dict[str, str]
    paths: dict[str, dict[str, Any]]
    components: dict[str, Any]


class _Refs:
    """The models the operations name, resolved in one pass at the end: two models with the same class name (two
    domains' ``EventOut``) get distinct components instead of the later one silently replacing the other."""

    def __init__(self) -> None:
        self.wanted: dict[tuple[type[BaseModel], JsonSchemaMode], list[dict[str, Any]]] = {}

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        """A placeholder filled with the model's ``$ref`` by ``resolve``."""
        slot: dict[str, Any] = {}
        self.wanted.setdefault((model, mode), []).append(slot)
        return slot

    def resolve(self) -> dict[str, Any]:
        refs, schema = models_json_schema(list(self.wanted), ref_template=REF)
        for key, slots in self.wanted.items():
            for slot in slots:
                slot.update(refs[key])
        return dict(schema.get("$defs", {}))


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or has a value: ``X | None`` in a query model documents X."""
    alternatives = [a for a in prop.get("anyOf", []) if a != {"type": "null"}]
    if "anyOf" not in prop or len(alternatives) == len(prop["anyOf"]):
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**rest, **alternatives[0]} if len(alternatives) == 1 else {**rest, "anyOf": alternatives}


def build(app: Any, *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    refs = _Refs()
    for route in app.router.routes:
        uri = "/" + route.path.lstrip("/")
        if not uri.startswith("/api/v1"):
            continue
        path = re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", uri)
        handler = route.handler
        meta = getattr(handler, "__openapi__", None) or {}
        roles = getattr(handler, "__authorized__", ())
        for method in sorted(route.methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            op: dict[str, Any] = {
                "summary": meta.get("summary") or (handler.__doc__ or handler.__name__).strip().splitlines()[0],
                "operationId": f"{route.name.split('.')[-1]}_{method.lower()}",
                "tags": meta.get("tags") or [path.split("/")[3] if len(path.split("/")) > 3 else "api"],
                "responses": {
                    "default": {
                        "description": "error",
                        "content": {"application/json": {"schema": refs.ref(ErrorOut, "serialization")}},
                    }
                },
            }
            error = op["responses"]["default"]["content"]
            if roles and roles != ("public",):
                op["security"] = [{"bearer": []}]
                op["x-roles"] = list(roles)
                op["responses"]["401"] = {"description": "no or invalid credentials", "content": error}
                op["responses"]["403"] = {"description": "a role that may not do this", "content": error}
            ints = set(re.findall(r"<(\w+):int>", uri))
            params = [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if p in ints else {"type": "string"},
                }
                for p in re.findall(r"{(\w+)}", path)
            ]
            if meta.get("many") is True:  # every paged list takes the page parameters of crm.core.http.page_params
                params += [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "description": "field or -field"},
                    },
                ]
            if meta.get("query"):
                qs = meta["query"].model_json_schema()
                for name, prop in qs.get("properties", {}).items():
                    prop = _not_null(prop)
                    params.append(
                        {"name": name, "in": "query", "required": name in qs.get("required", []), "schema": prop}
                    )
            if params:
                op["parameters"] = params
            if "{" in path:
                op["responses"]["404"] = {"description": "unknown id (or another ente's)", "content": error}
            if params or meta.get("body"):
                op["responses"]["422"] = {"description": "invalid fields, named in error.fields", "content": error}
            if meta.get("body"):
                op["responses"]["400"] = {"description": "malformed JSON", "content": error}
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs.ref(meta["body"], "validation")}},
                }
            for code in meta.get("status") or (200,):
                ok: dict[str, Any] = {"description": "no content" if code == 204 else "success"}
                if meta.get("response"):
                    model: Any = meta["response"]
                    if meta.get("many"):
                        model = (PageOut if meta["many"] is True else ListOut)[model]
                    ok["content"] = {"application/json": {"schema": refs.ref(model, "serialization")}}
                elif meta.get("media"):
                    ok["content"] = {m: {"schema": {"type": "string", "contentMediaType": m}} for m in meta["media"]}
                op["responses"][str(code)] = ok
            paths.setdefault(path, {})[method.lower()] = op
    components = refs.resolve()
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
