"""Booking centre speed: availability of one service over 90 days across 20 calendars (resources), and booking
throughput under contention, through the real HTTP server on SQLite (default) or PostgreSQL (--db URL).
Run: .venv/bin/python bench/bookings_bench.py [--db postgresql://postgres@127.0.0.1:5432/test]"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import DB, SECRET, SERVICE_TOKEN, make_ente, start_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--bookings", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--calendars", type=int, default=20)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    from crm.migrations import upgrade

    upgrade(url)
    import os

    env = {
        **os.environ,
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": SECRET,
        "URP_SERVICE_TOKEN": SERVICE_TOKEN,
        "URP_SCHEDULER": "false",
        "URP_VAR_DIR": str(tmp / "var"),
        "URP_DEFAULT_ENTE": "bench",
        "URP_KB_WARM_UP": "false",
    }  # the knowledge base's model loading would compete for the CPU
    srv = start_server(env, tmp / "server.log")
    ente = make_ente(DB(url))
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            h = ente.headers("admin")
            loc = c.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()["id"]
            res = [
                c.post("/api/v1/resources", json={"name": f"S{i}", "location_id": loc}, headers=h).json()["id"]
                for i in range(args.calendars)
            ]
            svc = c.post(
                "/api/v1/services",
                headers=h,
                json={
                    "slug": "cie",
                    "code_prefix": "AN",
                    "name": "CIE",
                    "kind": "multi_resource",
                    "slot_minutes": 15,
                    "resource_ids": res,
                    "min_notice_hours": 0,
                    "max_active_per_citizen": 50,
                    "horizon_days": 120,
                    "max_per_day_per_citizen": 20,
                },
            ).json()
            c.put(
                f"/api/v1/services/{svc['id']}/hours",
                headers=h,
                json={"hours": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(6)]},
            )
            # half the calendars keep their own hours (a counter that opens in the afternoon too)
            for rid in res[::2]:
                c.put(
                    f"/api/v1/services/{svc['id']}/hours",
                    headers=h,
                    json={
                        "resource_id": rid,
                        "hours": [{"weekday": d, "start": "08:00", "end": "12:00"} for d in range(5)]
                        + [{"weekday": d, "start": "14:00", "end": "18:00"} for d in range(5)],
                    },
                )
            frm = date.today() + timedelta(days=1)
            to = frm + timedelta(days=args.days - 1)

            def measure() -> tuple[list[float], list[dict]]:  # type: ignore[type-arg]
                lat, items = [], []
                for _ in range(3):  # warm-up: first queries, caches
                    c.get(
                        f"/api/v1/services/{svc['id']}/availability",
                        params={"from": frm.isoformat(), "to": to.isoformat()},
                        headers=h,
                    )
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    r = c.get(
                        f"/api/v1/services/{svc['id']}/availability",
                        params={"from": frm.isoformat(), "to": to.isoformat()},
                        headers=h,
                    )
                    lat.append((time.perf_counter() - t) * 1000)  # until the whole response is in, before parsing
                    items = r.json()["items"]
                return lat, items

            lat, slots = measure()
            people = [
                c.post("/api/v1/contacts", json={"first_name": f"P{i}"}, headers=h).json()["id"]
                for i in range(args.bookings)
            ]
            # everybody wants the first slots: heavy contention on few rows
            targets = [s["start"] for s in slots[: max(args.bookings // (2 * args.calendars), 1)]]

        def book(i: int) -> int:
            with httpx.Client(base_url=srv.url, timeout=120) as cc:
                return cc.post(
                    "/api/v1/bookings",
                    headers=ente.headers("service"),
                    json={"service_id": svc["id"], "start": targets[i % len(targets)], "contact_id": people[i]},
                ).status_code

        t = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            codes = list(pool.map(book, range(args.bookings)))
        elapsed = time.perf_counter() - t
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            lat_after, _ = measure()

        def p95(xs: list[float]) -> float:
            return round(statistics.quantiles(xs, n=20)[18], 1)

        print(
            json.dumps(
                {
                    "backend": url.split(":")[0],
                    "calendars": args.calendars,
                    "days": args.days,
                    "slot_starts_listed": len(slots),
                    "availability_p50_ms": round(statistics.median(lat), 1),
                    "availability_p95_ms": p95(lat),
                    "availability_with_bookings_p95_ms": p95(lat_after),
                    "booking_requests": args.bookings,
                    "concurrency": args.concurrency,
                    "requests_per_s": round(args.bookings / elapsed, 1),
                    "created": codes.count(201),
                    "conflicts_409": codes.count(409),
                    "errors_5xx": sum(1 for x in codes if x >= 500),
                    "expected_created": min(len(targets) * args.calendars, args.bookings),
                }
            )
        )
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=15)


if __name__ == "__main__":
    main()
