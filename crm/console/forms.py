"""HTML forms from the JSON Schemas of booking services and istanza types, form values back to JSON, and the
services' validation errors put into Italian for the operator (next to the field they concern)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from crm.core.errors import ApiError


@dataclass
class FormField:
    name: str
    label: str
    widget: str  # text | textarea | email | date | number | select | checkbox
    required: bool
    description: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    value: str = ""
    checked: bool = False
    error: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)  # minlength, maxlength, min, max, step

    @property
    def input_id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "_", self.name)


def _options(prop: dict[str, Any], reference: list[str] | None) -> list[tuple[str, str]] | None:
    if reference is not None:
        return [(v, v) for v in reference]
    if isinstance(prop.get("enum"), list):
        labels = prop.get("x-enum-labels") or {}
        return [(str(v), str(labels.get(str(v), v)) if isinstance(labels, dict) else str(v)) for v in prop["enum"]]
    for key in ("oneOf", "anyOf"):
        alts = prop.get(key)
        if isinstance(alts, list) and alts and all(isinstance(a, dict) and "const" in a for a in alts):
            return [(str(a["const"]), str(a.get("title", a["const"]))) for a in alts]
    return None


def schema_fields(
    schema: dict[str, Any] | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    references: dict[str, list[str]] | None = None,
) -> tuple[list[FormField], list[str]]:
    """The form's fields (in the schema's order) and the names of properties the console cannot render."""
    schema = schema or {}
    values, errors, references = values or {}, errors or {}, references or {}
    required = set(schema.get("required") or [])
    out: list[FormField] = []
    skipped: list[str] = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        label = str(prop.get("title") or name.replace("_", " ").replace("-", " ").capitalize())
        ptype = prop.get("type", "string")
        opts = _options(prop, references.get(name))
        attrs: dict[str, Any] = {}
        if opts is not None:
            widget = "select"
        elif ptype == "boolean":
            widget = "checkbox"
        elif ptype in ("integer", "number"):
            widget = "number"
            for key in ("minimum", "maximum"):
                if key in prop:
                    attrs[key[:3]] = prop[key]
            attrs["step"] = "1" if ptype == "integer" else "any"
        elif ptype == "string":
            fmt = prop.get("format")
            widget = {"date": "date", "email": "email"}.get(fmt or "", "text")
            if widget == "text" and (
                prop.get("x-widget") == "textarea"
                or prop.get("maxLength", 0) > 200
                or ("maxLength" not in prop and name in ("description", "descrizione", "note", "testo", "motivazione"))
            ):
                widget = "textarea"
            if "minLength" in prop:
                attrs["minlength"] = prop["minLength"]
            if "maxLength" in prop:
                attrs["maxlength"] = prop["maxLength"]
        else:  # arrays, objects: not something to type over the phone
            skipped.append(label)
            continue
        raw = values.get(name)
        f = FormField(
            name=name,
            label=label,
            widget=widget,
            required=name in required,
            description=str(prop.get("description") or ""),
            options=opts or [],
            attrs=attrs,
            error=errors.get(name, ""),
        )
        if widget == "checkbox":
            f.checked = bool(raw) if raw is not None else bool(prop.get("default", False))
        elif raw is not None:
            f.value = str(raw)
        elif "default" in prop:
            f.value = str(prop["default"])
        out.append(f)
    return out, skipped


def parse_values(schema: dict[str, Any] | None, form: Any) -> dict[str, Any]:
    """Form fields -> JSON values typed as the schema says. Empty fields are left out, so the service's validation
    reports a missing required field; a value that does not convert is passed on as typed, for the same reason."""
    data: dict[str, Any] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        ptype = prop.get("type", "string")
        if ptype == "boolean":
            data[name] = form.get(name) in ("1", "on", "true")
            continue
        raw = form.get(name)
        if raw is None:
            continue
        raw = str(raw).strip()
        if raw == "":
            continue
        enum = prop.get("enum")
        if isinstance(enum, list):
            data[name] = next((v for v in enum if str(v) == raw), raw)
        elif ptype == "integer":
            data[name] = int(raw) if re.fullmatch(r"[+-]?\d+", raw) else raw
        elif ptype == "number":
            try:
                data[name] = float(raw.replace(",", ".")) if not re.fullmatch(r"[+-]?\d+", raw) else int(raw)
            except ValueError:
                data[name] = raw
        else:
            data[name] = raw
    return data


# --- errors in Italian ------------------------------------------------------------------------------------------------
def field_message(message: str) -> str:
    """A validator's message about one field, in Italian."""
    m = message.lower()
    if m in ("required", "field required") or "is a required property" in m or "at least 1 character" in m:
        return "Campo obbligatorio."
    if m.startswith("input should be '"):  # a Literal: one of the listed values
        return "Scelga un valore dall'elenco."
    if "should have at least" in m:
        return "Valore troppo breve."
    if "should have at most" in m:
        return "Valore troppo lungo."
    if "is not one of" in m:
        return "Scelga un valore dall'elenco."
    if "'date'" in m:
        return "Data non valida."
    if "'email'" in m or "email" in m:
        return "Indirizzo e-mail non valido."
    if "too short" in m or "should be non-empty" in m:
        return "Valore troppo breve."
    if "too long" in m:
        return "Valore troppo lungo."
    if (
        "less than the minimum" in m
        or "greater than the maximum" in m
        or "less than or equal" in m
        or "greater than or equal" in m
    ):
        return "Valore fuori dall'intervallo consentito."
    if "does not match" in m:
        return "Formato non valido."
    if "is not of type" in m:
        return "Valore del tipo sbagliato."
    return "Valore non valido."


def fiscal_code_message(message: str) -> str:
    """The contacts service's fiscal-code check (python-stdnum underneath), in Italian."""
    m = message.lower()
    if "length" in m:
        return "Codice fiscale non valido: deve avere 16 caratteri."
    if "checksum" in m or "check digit" in m:
        return "Codice fiscale non valido: il carattere di controllo non corrisponde."
    if "format" in m or "component" in m:
        return "Codice fiscale non valido: formato errato."
    return "Codice fiscale non valido."


def contact_errors(exc: ValidationError) -> dict[str, str]:
    """ContactIn's validation errors -> console field name -> Italian message."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else "form"
        msg = str(err.get("msg", ""))
        if name == "fiscal_code":
            out["fiscal_code"] = fiscal_code_message(msg)
        elif name == "phones":
            out["phone"] = "Numero di telefono non valido."
        elif name == "emails":
            out["email"] = "Indirizzo e-mail non valido."
        elif name in ("first_name", "last_name"):
            out[name] = "Valore troppo lungo." if "at most" in msg else "Valore non valido."
        else:
            out.setdefault("form", "Dati non validi.")
    return out


def model_errors(exc: ValidationError) -> dict[str, str]:
    """Any other input model's validation errors, by top-level field, in Italian."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        out.setdefault(name, field_message(str(err.get("msg", ""))))
    return out


# messages of the services that the operator may meet, by (error field, service message fragment)
_KNOWN = [
    ("slot_taken", "L'orario scelto non è più disponibile: ne scelga un altro."),
    ("one active booking per citizen", "Il cittadino ha già una prenotazione attiva per questo servizio."),
    ("too many active bookings", "Il cittadino ha già raggiunto il numero massimo di prenotazioni attive."),
    ("daily limit reached", "Il cittadino ha già una prenotazione per questo servizio nello stesso giorno."),
    ("in the past", "L'orario scelto è già passato."),
    ("too soon", "L'orario scelto è troppo vicino: serve più preavviso."),
    ("beyond horizon", "L'orario scelto è oltre il periodo prenotabile."),
    ("closed day", "L'ufficio è chiuso quel giorno."),
    ("not a slot start", "L'orario scelto non è un orario di inizio valido."),
    ("not an event start", "Nessun evento inizia a quell'ora."),
    ("the event is full", "L'evento è al completo."),
    ("inactive", "Il servizio non è prenotabile."),
    (
        "verified identity required",
        "Questa istanza richiede un'identità verificata (SPID/CIE): il cittadino deve presentarla di persona o online.",
    ),
    ("cancellation deadline passed", "Il termine per annullare è scaduto."),
    ("has not started yet", "L'appuntamento non è ancora iniziato."),
    ("unknown type", "Tipo di istanza sconosciuto o non più attivo."),
    ("resource_id", "Scelga uno sportello per questo servizio."),
]


def service_error(exc: ApiError) -> str:
    """One Italian sentence for an error raised by a domain service."""
    haystack = " ".join([exc.code, exc.message, *exc.fields.keys(), *map(str, exc.fields.values())])
    for needle, text in _KNOWN:
        if needle in haystack:
            return text
    if exc.code == "illegal_transition":
        return "Operazione non consentita nello stato attuale della pratica."
    if exc.status == 404:
        return "Elemento non trovato."
    if exc.status == 403:
        return "Operazione non consentita per il suo ruolo."
    if exc.fields:
        return "Alcuni campi non sono validi: li corregga e riprovi."
    return "Operazione non riuscita."


def form_errors(exc: ApiError, prefix: str) -> dict[str, str]:
    """Service errors on form fields (``fields.x`` for bookings, ``data.x`` for istanze) -> field name -> Italian."""
    out: dict[str, str] = {}
    missing: list[str] = []
    for key, msg in exc.fields.items():
        if key.startswith(prefix + "."):
            out[key[len(prefix) + 1 :].split(".")[0]] = field_message(str(msg))
        elif key.startswith("attachments."):
            missing.append(key.split(".", 1)[1])
    if missing:
        out["_attachments"] = "Mancano allegati obbligatori: " + ", ".join(missing) + "."
    return out
