"""Dashboard: the desk's figures for a period (default the last 30 days), computed by ``crm.reports.service``.
Charts are drawn on the server (SVG and CSS bars, no script) and each comes with its table, which is also the text
alternative; every table can be downloaded as CSV (``/console/dashboard.csv?metric=...``)."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse

from crm.console.kit import CHANNEL_LABEL, DASHBOARD_ROLES, PRIORITY_LABEL, bp, env, render
from crm.console.session import console_page, context
from crm.core.auth import Principal
from crm.core.errors import NotFound
from crm.entes import service as entes
from crm.reports import service as reports
from crm.reports.service import Period
from crm.sportello import service as sportello
from knowledge.embedders import get_embedder

DEFAULT_DAYS = 30
MAX_DAYS = 366
PRESETS = (7, 30, 90)
# channel colours: each at least 3:1 against white (non-text contrast) and told apart by the legend and the table
CHANNEL_COLOR = {"web": "#0059b3", "sms": "#a34700", "telegram": "#00756a", "email": "#6b2fa3", "phone": "#b3123e"}
OTHER_COLOR = "#4d4d4d"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """One table of the dashboard: shown on the page and downloadable as CSV."""

    metric: str
    caption: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def numeric(self) -> set[int]:
        """Columns holding numbers (right-aligned on the page)."""
        return {
            i
            for i in range(1, len(self.header))
            if all(r[i] is None or (isinstance(r[i], int | float) and not isinstance(r[i], bool)) for r in self.rows)
        }


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def it_number(value: Any, decimals: int = 1) -> str:
    """Numbers the Italian way (1.234,5); None is a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, float):
        return f"{value:,.{decimals}f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return str(value)


env.filters["num"] = it_number


def parse_period(args: Any, tz: Any, today: date) -> tuple[Period, str]:
    """The period asked for (``da``, ``a`` as ISO dates, or ``giorni``), else the last 30 days; with a notice when
    the request could not be followed."""
    days = args.get("giorni", "")
    if days.isdigit() and 1 <= int(days) <= MAX_DAYS:
        return Period.last_days(int(days), tz, today), ""
    raw_from, raw_to = args.get("da", ""), args.get("a", "")
    if not raw_from and not raw_to:
        return Period.last_days(DEFAULT_DAYS, tz, today), ""
    try:
        end = date.fromisoformat(raw_to) if raw_to else today
        start = date.fromisoformat(raw_from) if raw_from else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        return Period.last_days(DEFAULT_DAYS, tz, today), "Date non valide: sono mostrati gli ultimi 30 giorni."
    if end < start:
        return Period.last_days(DEFAULT_DAYS, tz, today), (
            "La data finale precede quella iniziale: sono mostrati gli ultimi 30 giorni."
        )
    if (end - start).days + 1 > MAX_DAYS:
        return Period(
            start=end - timedelta(days=MAX_DAYS - 1), end=end, tz=tz
        ), "Il periodo massimo è di un anno: è stato accorciato."
    return Period(start=start, end=end, tz=tz), ""


async def figures(request: Request, ente_id: int, period: Period, only: str | None = None) -> dict[str, Any]:
    """The figures of the period (or just one of them, for a CSV download)."""
    out: dict[str, Any] = {}
    async with request.app.ctx.read_sessionmaker() as s:  # reads only: no write turn on SQLite
        done: dict[Any, Any] = {}
        for name, fn in FIGURES.items():
            if only is not None and name != only:
                continue
            if fn in done:  # one figure behind two tables (the ratings): computed once
                out[name] = done[fn]
                continue
            if name == "gaps":
                embedder = await asyncio.to_thread(get_embedder, request.app.ctx.settings.kb_embedder)
                out[name] = await fn(s, ente_id=ente_id, period=period, embedder=embedder)
            else:
                out[name] = await fn(s, ente_id=ente_id, period=period)
            done[fn] = out[name]
    return out


def _conversations(conv: dict[str, Any]) -> Table:
    channels = conv["channels"]
    t = Table(
        "conversations",
        "Conversazioni iniziate per giorno e canale",
        ["Giorno", *(CHANNEL_LABEL.get(ch, ch) for ch in channels), "Totale"],
    )
    for day, counts in conv["days"]:
        t.rows.append([day.strftime("%d/%m/%Y"), *(counts.get(ch, 0) for ch in channels), sum(counts.values())])
    t.rows.append(["Totale", *(conv["totals"].get(ch, 0) for ch in channels), conv["total"]])
    return t


def _bot(bot: dict[str, Any]) -> Table:
    t = Table("bot", "Esito delle conversazioni iniziate nel periodo", ["Esito", "Conversazioni", "Quota (%)"])
    for label, key in (
        ("Concluse dall'assistente senza operatore (contenimento)", "contained"),
        ("Passate a un operatore", "handed_off"),
        ("Ancora in corso con l'assistente", "ongoing"),
    ):
        # shares of the finished conversations; those still going on have no outcome yet (no share)
        share = _pct(bot[key] / bot["finished"]) if key != "ongoing" and bot["finished"] else None
        t.rows.append([label, bot[key], share])
    t.rows.append(["Totale", bot["total"], 100.0 if bot["finished"] else None])
    return t


def _times(times: dict[str, Any]) -> Table:
    t = Table(
        "times",
        "Tempi delle richieste aperte nel periodo, in ore",
        [
            "Priorità",
            "Richieste aperte",
            "Prese in carico",
            "Prima risposta: mediana (ore)",
            "Prima risposta: 90° percentile (ore)",
            "Risolte",
            "Risoluzione: mediana (ore)",
            "Risoluzione: 90° percentile (ore)",
        ],
    )
    for key in ("all", *reports.PRIORITIES):
        r = times[key]
        fr, rs = r["first_response"], r["resolution"]
        t.rows.append(
            [
                PRIORITY_LABEL.get(key, "Tutte"),
                r["opened"],
                fr["count"],
                fr["median_hours"],
                fr["p90_hours"],
                rs["count"],
                rs["median_hours"],
                rs["p90_hours"],
            ]
        )
    return t


def _sla(sla: dict[str, Any]) -> Table:
    t = Table(
        "sla",
        f"Presa in carico entro i tempi promessi (obiettivo {round(sla['target'] * 100)}%)",
        [
            "Priorità",
            "Ore lavorative promesse",
            "Richieste",
            "Nei tempi",
            "In ritardo",
            "Non ancora scadute",
            "Conformità (%)",
            "Obiettivo raggiunto",
        ],
    )
    for prio in reports.PRIORITIES:
        r = sla["by_priority"][prio]
        t.rows.append(
            [
                PRIORITY_LABEL.get(prio, prio),
                r["sla_hours"],
                r["total"],
                r["met"],
                r["breached"],
                r["pending"],
                _pct(r["compliance"]),
                r["meets_target"],
            ]
        )
    return t


def _bookings(bk: dict[str, Any]) -> Table:
    t = Table(
        "bookings",
        "Prenotazioni per servizio",
        ["Servizio", "Prenotate", "Spostate", "Annullate", "Presentati", "Non presentati", "Tasso di assenza (%)"],
    )
    for r in [*bk["services"], {**bk["total"], "service": "Totale"}]:
        t.rows.append(
            [r["service"], r["made"], r["moved"], r["cancelled"], r["attended"], r["no_show"], _pct(r["no_show_rate"])]
        )
    return t


def _gaps(gaps: dict[str, Any]) -> Table:
    t = Table("gaps", "Domande più frequenti rimaste senza risposta", ["Domanda", "Quante volte", "Altri esempi"])
    for g in gaps["groups"]:
        t.rows.append([g["label"], g["count"], " | ".join(e for e in g["examples"] if e != g["label"])])
    return t


def _ratings(rt: dict[str, Any]) -> Table:
    t = Table(
        "ratings",
        "Valutazioni dei cittadini sullo sportello digitale, per servizio e per pagina",
        [
            "Servizio o pagina",
            "Valutazioni",
            "Media (stelle, da 1 a 5)",
            "1 stella",
            "2 stelle",
            "3 stelle",
            "4 stelle",
            "5 stelle",
        ],
    )
    rows = [*rt["services"], *rt["pages"], *([rt["total"]] if rt["total"] else [])]
    for r in rows:
        label = f"Pagina {r.page}" if r.page else r.label
        t.rows.append([label, r.count, r.average, *(r.distribution[n] for n in range(1, 6))])
    return t


def _rating_answers(rt: dict[str, Any]) -> Table:
    t = Table(
        "rating_answers",
        "Risposte alle domande che seguono la valutazione",
        ["Servizio", "Domanda", "Risposta", "Quante volte"],
    )
    for a in rt["answers"]:
        t.rows.append([a.label, "Aspetti preferiti" if a.positive else "Difficoltà incontrate", a.answer, a.count])
    return t


def _csat(cs: dict[str, Any]) -> Table:
    t = Table(
        "csat",
        "Soddisfazione dei cittadini per le conversazioni con un operatore (valutazione da 1 a 5)",
        ["Gruppo", "Nome", "Domande", "Risposte", "Media (da 1 a 5)", "Soddisfatti, 4 o 5 (%)"],
    )
    for kind, key in (("Operatore", "operators"), ("Ambito", "topics"), ("Canale", "channels")):
        for r in cs[key]:
            name = CHANNEL_LABEL.get(r["name"], r["name"]) if key == "channels" else r["name"]
            t.rows.append([kind, name, r["asked"], r["answers"], r["average"], _pct(r["satisfied_rate"])])
    if cs["total"]:
        r = cs["total"]
        t.rows.append(["Totale", "", r["asked"], r["answers"], r["average"], _pct(r["satisfied_rate"])])
    return t


# metric -> the figure it shows (reports service) and the table made of it; both ratings tables come from the one
# figure of the sportello's ratings
FIGURES: dict[str, Any] = {
    "conversations": reports.conversations_by_day,
    "bot": reports.bot_outcomes,
    "times": reports.request_times,
    "sla": reports.sla_compliance,
    "bookings": reports.bookings_summary,
    "gaps": reports.top_gaps,
    "ratings": sportello.rating_figures,
    "rating_answers": sportello.rating_figures,
    "csat": reports.csat,
}
BUILDERS = {
    "conversations": _conversations,
    "bot": _bot,
    "times": _times,
    "sla": _sla,
    "bookings": _bookings,
    "gaps": _gaps,
    "ratings": _ratings,
    "rating_answers": _rating_answers,
    "csat": _csat,
}


def tables(fig: dict[str, Any]) -> dict[str, Table]:
    return {name: build(fig[name]) for name, build in BUILDERS.items() if name in fig}


def conversation_chart(conv: dict[str, Any], width: int = 720, height: int = 240) -> dict[str, Any]:
    """Stacked bars, one per day, one colour per channel: geometry for the template's SVG."""
    left, bottom, top = 40, 28, 10
    days = conv["days"]
    peak = max((sum(c.values()) for _, c in days), default=0)
    scale_max = max(peak, 1)
    step = 1 if scale_max <= 5 else 2 if scale_max <= 10 else 5 if scale_max <= 25 else 10 ** (len(str(scale_max)) - 1)
    scale_max = -(-scale_max // step) * step
    plot_h = height - bottom - top
    slot = (width - left - 10) / max(len(days), 1)
    bar_w = max(slot * 0.7, 1)
    bars, labels = [], []
    label_every = max(1, round(len(days) / 10))
    for i, (day, counts) in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        y = height - bottom
        for ch in conv["channels"]:
            n = counts.get(ch, 0)
            if not n:
                continue
            h = n / scale_max * plot_h
            y -= h
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(bar_w, 1),
                    "h": round(h, 1),
                    "color": CHANNEL_COLOR.get(ch, OTHER_COLOR),
                    "title": f"{day:%d/%m}: {n} {CHANNEL_LABEL.get(ch, ch)}",
                }
            )
        if i % label_every == 0:
            labels.append({"x": round(x + bar_w / 2, 1), "text": f"{day:%d/%m}"})
    ticks = [
        {"y": round(height - bottom - v / scale_max * plot_h, 1), "text": str(v)} for v in range(0, scale_max + 1, step)
    ]
    busiest = max(days, key=lambda d: sum(d[1].values()), default=None)
    summary = f"Totale {conv['total']} conversazioni." + (
        f" Giorno con più conversazioni: {busiest[0]:%d/%m/%Y} ({sum(busiest[1].values())})."
        if busiest and conv["total"]
        else ""
    )
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": height - bottom,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "summary": summary,
        "legend": [
            (CHANNEL_LABEL.get(ch, ch), CHANNEL_COLOR.get(ch, OTHER_COLOR), conv["totals"].get(ch, 0))
            for ch in conv["channels"]
        ],
    }


@bp.get("/dashboard")
@console_page(*DASHBOARD_ROLES)
async def dashboard(request: Request, p: Principal) -> HTTPResponse:
    tz = await _tz(request, p.ente_id)
    today = datetime.now(tz).date()
    period, notice = parse_period(request.args, tz, today)
    fig = await figures(request, p.ente_id, period)
    tabs = tables(fig)
    query = f"da={period.start.isoformat()}&a={period.end.isoformat()}"
    presets = [(n, f"?giorni={n}", period.end == today and (period.end - period.start).days + 1 == n) for n in PRESETS]
    return render(
        "dashboard.html",
        **context(
            request,
            p,
            period=period,
            notice=notice,
            fig=fig,
            tables=tabs,
            query=query,
            presets=presets,
            chart=conversation_chart(fig["conversations"]),
            target_pct=round(fig["sla"]["target"] * 100),
            idle_minutes=reports.IDLE_MINUTES,
        ),
    )


async def _tz(request: Request, ente_id: int) -> Any:
    async with request.app.ctx.read_sessionmaker() as s:
        return await entes.timezone(s, ente_id)


def csv_cell(value: Any) -> Any:
    """A cell as written to CSV: text that a spreadsheet would run as a formula is prefixed with a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in table.header])
    for row in table.rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


@bp.get("/dashboard.csv")
@console_page(*DASHBOARD_ROLES)
async def dashboard_csv(request: Request, p: Principal) -> HTTPResponse:
    metric = request.args.get("metric", "")
    if metric not in BUILDERS:
        raise NotFound("unknown metric")
    tz = await _tz(request, p.ente_id)
    period, _ = parse_period(request.args, tz, datetime.now(tz).date())
    table = tables(await figures(request, p.ente_id, period, only=metric))[metric]
    name = f"cruscotto-{metric}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return HTTPResponse(
        to_csv(table).encode("utf-8"),
        status=200,
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
