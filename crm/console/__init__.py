"""The operator console: server-rendered pages (Jinja2, Bootstrap Italia vendored by scripts/build_console.sh),
session cookie + CSRF, live refresh through the /api/v1/events stream. Handlers call the same services as the API."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    app.ctx.page_errors["/console/"] = _not_found


async def _not_found(request: Any, exc: Any) -> Any:
    """An address under /console/ that no screen has: the console's Italian error page (the menu when signed in)."""
    from crm.console.kit import render
    from crm.console.session import context, require

    p = await require(request)
    return render(
        "error.html",
        status=exc.status,
        **context(
            request,
            p,
            title="Pagina non trovata",
            message="Questa pagina della console non esiste: usi il menu per tornare al lavoro.",
        ),
    )
