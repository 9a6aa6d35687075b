"""The sportello digitale: the citizen's web desk at ``/sportello/`` (SPID/CIE sign-in, Designers Italia *modello
comuni* service pages, area personale, experience ratings). Pages call ``doors`` (the citizen's commands on their own
records); identity lives in ``crm/citizens``."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.citizens.config import get_citizen_settings, load_providers
    from crm.citizens.oidc import OidcClient

    settings = get_citizen_settings()
    app.ctx.oidc_providers = load_providers(settings.oidc_providers_file) if settings.oidc_providers_file else {}
    app.ctx.oidc_client = OidcClient()
    app.ctx.sportello_ente_name = app.ctx.settings.default_ente_name
    app.ctx.page_errors["/sportello/"] = _not_found

    async def probe(app: Any) -> dict[str, Any]:
        providers = app.ctx.oidc_providers.get(app.ctx.settings.default_ente, [])
        return {"status": "ok" if providers else "off", "providers": [p.slug for p in providers]}

    app.ctx.health["citizen_sign_in"] = probe

    from crm.notifications.appio import CHANNEL, AppIoSender, get_app_io_settings

    if get_app_io_settings().keys():  # App IO, a notification channel of the outbox like SMS and e-mail
        app.ctx.senders[CHANNEL] = AppIoSender(app)


async def _not_found(request: Any, exc: Any) -> Any:
    """An address under /sportello/ that no page has: the desk's Italian "Pagina non trovata", header and all."""
    from crm.sportello.kit import error_page
    from crm.sportello.session import current

    request.ctx.citizen = await current(request)
    return error_page(request, exc)
