"""The curators' gap list (GET /api/v1/kb/gaps: the unanswered questions grouped by meaning) through the real
server, with the questions' vectors stored by the searches that recorded them, and again as gaps recorded before
vectors were kept (the vector column emptied: every question encoded at each view, as every view did before).
Prints one JSON line: the view's wall time and the server's CPU per view, both ways, and their ratio.
Run: .venv/bin/python bench/gaps_bench.py [--gaps 500] [--views 3]"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.channels.inproc import app_env  # noqa: E402
from tests.conftest import DB, free_port, make_ente, start_server  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "knowledge" / "data"
ARTICLE = {
    "slug": "ormeggio-gondole",
    "title": "Permesso per l'ormeggio delle gondole",
    "body": "Il permesso di ormeggio delle gondole sul lago comunale si chiede all'Ufficio Porto entro marzo.",
    "topic": "mobilita",
    "status": "published",
}


def questions(n: int) -> list[str]:
    """Real citizens' questions (the probe set and the off-topic ones), repeated as a gap list repeats them."""
    probe = [json.loads(line)["query"] for line in (DATA / "probe_cases.jsonl").read_text().splitlines() if line]
    off = [line.strip() for line in (DATA / "off_topic.txt").read_text().splitlines() if line.strip()]
    pool = [q for q in probe + off if not q.startswith("#")]
    return [pool[i % len(pool)] for i in range(n)]


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) of the server process, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def views(client: httpx.Client, url: str, headers: dict[str, str], pid: int, n: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(n):
        c0, t0 = cpu_ms(pid), time.perf_counter()
        r = client.get(url + "/api/v1/kb/gaps", headers=headers)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append(cpu_ms(pid) - c0)
        r.raise_for_status()
    return {"wall_ms": round(statistics.median(wall), 1), "crm_cpu_ms": round(statistics.median(cpu), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaps", type=int, default=500)
    ap.add_argument("--views", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    path = tmp / "gaps.db"
    url = f"sqlite:///{path}"
    from crm.migrations import upgrade

    upgrade(url)
    ente = make_ente(DB(url), slug="bench")
    # a server alone (no scheduler, no Rasa): the test suite's environment for one
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("URP_")}, **app_env(tmp, url, "bench")}
    srv = start_server(env, tmp / "crm.log", port=free_port(), timeout=300)
    out: dict[str, object] = {}
    try:
        with httpx.Client(base_url=srv.url, timeout=600) as c:
            c.post("/api/v1/kb/articles", json=ARTICLE, headers=ente.headers("admin")).raise_for_status()
            for q in questions(args.gaps):  # the assistant's searches: an unanswered one is recorded as a gap
                c.get("/api/v1/kb/search", params={"q": q}, headers=ente.headers("service")).raise_for_status()
            first = c.get("/api/v1/kb/gaps", headers=ente.headers("admin")).json()
            out["gaps"], out["groups"] = first["questions"], first["total"]
            out["stored_vectors"] = views(c, srv.url, ente.headers("admin"), srv.proc.pid, args.views)
            with sqlite3.connect(path) as db:  # as if recorded before the vectors were kept
                db.execute("UPDATE kb_gaps SET vector = NULL, embedder = ''")
            out["encoded_at_view"] = views(c, srv.url, ente.headers("admin"), srv.proc.pid, args.views)
            again = c.get("/api/v1/kb/gaps", headers=ente.headers("admin")).json()
            out["same_groups"] = again["items"] == first["items"]
    finally:
        srv.proc.terminate()
        srv.proc.wait(30)
    s, e = out["stored_vectors"], out["encoded_at_view"]
    assert isinstance(s, dict) and isinstance(e, dict)
    out["cpu_ratio"] = round(e["crm_cpu_ms"] / max(s["crm_cpu_ms"], 0.1), 1)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
