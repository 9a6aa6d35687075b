"""The console's shared kit: the blueprint every screen registers on, the templates and their filters, the labels
that put enum values into Italian, the page guard's role lists, ``render`` and the error page.

Screens import this module; ``crm/console/api.py`` imports the screens (explicitly, in one list). This module imports
no screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from crm.bookings import policies as booking_policies
from crm.console.forms import service_error
from crm.console.session import context
from crm.contacts import policies as contact_policies
from crm.conversations import files as chat_files
from crm.core import labels
from crm.core.errors import ApiError
from crm.core.labels import LABELS
from crm.entes import service as entes
from crm.instances import policies as instance_policies
from crm.kb import policies as kb_policies
from crm.operators import policies as operator_policies
from crm.tickets import policies as ticket_policies

bp = Blueprint("console", url_prefix="/console")
HERE = Path(__file__).parent
bp.static("/static", str(HERE / "static"), name="static")
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
# the enum values in Italian: one table (crm/core/labels.py) for screens, PDFs and messages; templates use the
# ``it`` filter (``{{ b.status|it("booking_status") }}``), the names below are the same tables for Python code
CHANNEL_LABEL = LABELS["channel"]
MODE_LABEL = LABELS["mode"]
STATUS_LABEL = LABELS["ticket_status"]
KIND_LABEL = LABELS["ticket_kind"]
PRIORITY_LABEL = LABELS["priority"]
BOOKING_STATUS_LABEL = LABELS["booking_status"]
INSTANCE_STATUS_LABEL = LABELS["instance_status"]
ROLE_LABEL = LABELS["role"]
WEEKDAYS = labels.WEEKDAYS
# which screens each role sees (the navigation, and the role checks of the routes below)
INTAKE_ROLES = ("admin", "operator", "phone_operator")
BOOKING_VIEWERS = booking_policies.VIEW.staff
BOOKING_EDITORS = booking_policies.CANCEL.staff  # cancel, reschedule
BOOKING_MARKERS = booking_policies.MARK.staff  # attended, no-show
INSTANCE_HANDLERS = instance_policies.HANDLE.staff
# the console's knowledge-base screens (the API lets every role read): phone operators answer information calls
# from it; the unanswered citizens' questions are for those who write the answers
KB_READERS = ("admin", "operator", "phone_operator")
KB_GAP_READERS = ("admin", "operator")
KB_EDITORS = kb_policies.CURATE.staff
DASHBOARD_ROLES = ("admin", "operator")
ADMINS = operator_policies.MANAGE.staff  # operators and settings
CONTACT_MERGERS = contact_policies.MERGE.staff
GDPR_EXPORTERS = contact_policies.EXPORT.staff  # erasure: contact_policies.ERASE (admins)
REQUEST_VIEWERS = ticket_policies.VIEW.staff  # the requests screen
REQUEST_HANDLERS = ticket_policies.HANDLE.staff  # take, assign, priority, status, notes
# where each role lands after signing in: its own work (an unknown role gets the conversations)
LANDING = {
    "admin": "/console/dashboard",
    "operator": "/console/inbox",
    "phone_operator": "/console/intake",
    "backoffice": "/console/instances",
}


def landing(role: str) -> str:
    return LANDING.get(role, "/console/inbox")


env.globals.update(
    CHANNEL_LABEL=CHANNEL_LABEL,
    MODE_LABEL=MODE_LABEL,
    STATUS_LABEL=STATUS_LABEL,
    KIND_LABEL=KIND_LABEL,
    PRIORITY_LABEL=PRIORITY_LABEL,
    BOOKING_STATUS_LABEL=BOOKING_STATUS_LABEL,
    INSTANCE_STATUS_LABEL=INSTANCE_STATUS_LABEL,
    ROLE_LABEL=ROLE_LABEL,
    INTAKE_ROLES=INTAKE_ROLES,
    BOOKING_VIEWERS=BOOKING_VIEWERS,
    BOOKING_EDITORS=BOOKING_EDITORS,
    BOOKING_MARKERS=BOOKING_MARKERS,
    INSTANCE_HANDLERS=INSTANCE_HANDLERS,
    KB_READERS=KB_READERS,
    KB_EDITORS=KB_EDITORS,
    KB_GAP_READERS=KB_GAP_READERS,
    DASHBOARD_ROLES=DASHBOARD_ROLES,
    ADMINS=ADMINS,
    CONTACT_MERGERS=CONTACT_MERGERS,
    GDPR_EXPORTERS=GDPR_EXPORTERS,
    REQUEST_VIEWERS=REQUEST_VIEWERS,
    REQUEST_HANDLERS=REQUEST_HANDLERS,
)
env.filters.update(
    local=labels.local,
    day=labels.day,
    validity=labels.validity,
    actor=labels.actor,
    it=lambda value, kind: labels.label(kind, value),
    options=lambda rows, value, label: [(getattr(r, value), getattr(r, label)) for r in rows],
    filesize=lambda n: chat_files.human_size(int(n or 0)),
    refusal=lambda reason: chat_files.REFUSAL_LABEL.get(str(reason), "tipo non ammesso"),
)


def render(name: str, status: int = 200, **ctx: Any) -> HTTPResponse:
    return html(
        env.get_template(name).render(**ctx),
        status=status,
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
            "'unsafe-inline'; font-src 'self' data:; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


ERROR_TITLE = {
    400: "Richiesta non valida",
    403: "Operazione non consentita",
    404: "Pagina non trovata",
    409: "Operazione non possibile",
    422: "Dati non validi",
}


@bp.exception(ApiError)
async def console_error(request: Request, exc: ApiError) -> HTTPResponse:
    """Errors on console pages are pages in Italian (the API keeps its JSON errors)."""
    p = getattr(request.ctx, "principal", None)
    if exc.status == 403 and "CSRF" in exc.message:
        text = "Il modulo è scaduto o non è valido: ricarichi la pagina e riprovi."
    elif exc.status == 403:
        text = "Il suo ruolo non consente di aprire questa pagina o di eseguire questa operazione."
    else:
        text = service_error(exc)
    return render(
        "error.html",
        status=exc.status,
        **context(request, p, title=ERROR_TITLE.get(exc.status, "Errore"), message=text),
    )


ente_tz = entes.timezone  # the screens' name for crm.entes.service.timezone


# --- files the phone desk and the operators attach to a request (the intake form, the request's page) -------------
FILE_REFUSED = {
    "too large": "Il file «{name}» è troppo grande: il limite è {limit}.",
    "type not allowed": "Il file «{name}» non è ammesso: si possono allegare foto JPEG, PNG o WebP e documenti PDF.",
    "empty": "Il file «{name}» è vuoto.",
}


def uploads_of(request: Request) -> list[tuple[str, bytes]]:
    """The form's files (an empty file input sends one nameless, empty part: not a file)."""
    if not request.files:  # a form without files (or sent urlencoded)
        return []
    return [(f.name or "", f.body) for f in request.files.getlist("files", []) if f.name or f.body]


def file_error(files: list[tuple[str, bytes]], max_bytes: int, outcome: str = "Nulla è stato registrato.") -> str:
    """The first file that cannot be kept, said in Italian, and what happened then (nothing kept)."""
    from crm.tickets import service as tickets

    if len(files) > tickets.MAX_UPLOADS:
        return f"Si possono allegare al massimo {tickets.MAX_UPLOADS} file."
    for name, reason in tickets.file_refusals(files, max_bytes).items():
        text = FILE_REFUSED.get(reason, FILE_REFUSED["type not allowed"])
        return f"{text.format(name=name, limit=chat_files.human_size(max_bytes))} {outcome}"
    return ""
