"""Italian date expressions citizens write: "domani", "giovedì mattina", "il 3 marzo", "3/12",
"la prossima settimana"."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

WEEKDAYS = ["lunedi", "martedi", "mercoledi", "giovedi", "venerdi", "sabato", "domenica"]
MONTHS = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
]


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def parse_day(text: str, today: date) -> date | None:
    t = _plain(text)
    if "dopodomani" in t:
        return today + timedelta(days=2)
    if "domani" in t:
        return today + timedelta(days=1)
    if re.search(r"\boggi\b", t):
        return today
    if "prossima settimana" in t:
        return today + timedelta(days=7 - today.weekday())
    m = re.search(r"\b(\d{1,2})\s*(?:/|-|\s)\s*(\d{1,2}|" + "|".join(MONTHS) + r")\b", t)
    if m:
        day = int(m.group(1))
        month = MONTHS.index(m.group(2)) + 1 if m.group(2) in MONTHS else int(m.group(2))
        for year in (today.year, today.year + 1):
            try:
                d = date(year, month, day)
            except ValueError:
                return None
            if d >= today:
                return d
        return None
    for i, name in enumerate(WEEKDAYS):
        if re.search(rf"\b{name[:-1]}", t):  # "giovedi", "giovedì", "giove"
            ahead = (i - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    return None


def part_of_day(text: str) -> str | None:
    t = _plain(text)
    if "mattin" in t:
        return "morning"
    if "pomeriggio" in t or "sera" in t:
        return "afternoon"
    return None
