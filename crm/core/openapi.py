"""A small OpenAPI 3.1 generator over the Sanic router: routes declare summary/body/response with ``@openapi``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from crm.core.text import MAX_ID


def openapi(
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    many: bool = False,
    tags: list[str] | None = None,
) -> Callable[[Any], Any]:
    def decorator(handler: Any) -> Any:
        handler.__openapi__ = {
            "summary": summary,
            "body": body,
            "response": response,
            "query": query,
            "many": many,
            "tags": tags,
        }
        return handler

    return decorator


REF = "#/components/schemas/{model}"


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


def build(app: Any, *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    refs = _Refs()
    error = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
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
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                },
            }
            error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            if roles and roles != ("public",):
                op["security"] = [{"bearer": []}]
                op["x-roles"] = list(roles)
                op["responses"]["401"] = {"description": "no or invalid credentials", **error_ref}
                op["responses"]["403"] = {"description": "a role that may not do this", **error_ref}
            ints = set(re.findall(r"<(\w+):int>", uri))
            params = [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if p in ints else {"type": "string"}}
                for p in re.findall(r"{(\w+)}", path)
            ]
            if meta.get("many"):  # every list takes the page parameters of crm.core.http.page_params
                params += [
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
                    {"name": "offset", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
                    {"name": "sort", "in": "query", "required": False,
                     "schema": {"type": "string", "description": "field or -field"}},
                ]
            if meta.get("query"):
                qs = meta["query"].model_json_schema()
                for name, prop in qs.get("properties", {}).items():
                    params.append({"name": name, "in": "query", "required": name in qs.get("required", []), "schema": prop})
            if params:
                op["parameters"] = params
            if "{" in path:
                op["responses"]["404"] = {"description": "unknown id (or another ente's)", **error_ref}
            if params or meta.get("body"):
                op["responses"]["422"] = {"description": "invalid fields, named in error.fields", **error_ref}
            if meta.get("body"):
                op["responses"]["400"] = {"description": "malformed JSON", **error_ref}
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs.ref(meta["body"], "validation")}},
                }
            ok: dict[str, Any] = {"description": "success"}
            if meta.get("response"):
                ref = refs.ref(meta["response"], "serialization")
                schema = (
                    {"type": "object", "required": ["items", "total"],
                     "properties": {"items": {"type": "array", "items": ref}, "total": {"type": "integer"},
                                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}}
                    if meta.get("many")
                    else ref
                )
                ok["content"] = {"application/json": {"schema": schema}}
            op["responses"]["201" if method == "POST" and meta.get("body") else "200"] = ok
            paths.setdefault(path, {})[method.lower()] = op
    components = refs.resolve()
    components["Error"] = error
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
