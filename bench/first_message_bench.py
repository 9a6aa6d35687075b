"""A newcomer's first message after `make run` on a fresh checkout: how long until `urp run` says the system is
ready, then how long the first web-chat message waits for its answer (and a first information question, which opens
the knowledge base).

The checkout is `git archive HEAD` into a temporary directory, with this tree's virtualenvs and trained model linked in
(`make run` would install and train the same); then what `make run` runs: `urp db upgrade`, `urp demo seed`,
`urp run`, on free ports. Prints one JSON line.
Run: .venv/bin/python bench/first_message_bench.py [--ref HEAD]"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conftest import free_port  # noqa: E402


def main() -> None:
    import argparse

    from websockets.sync.client import connect

    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="HEAD", help="the commit to check out (its model must be in models/)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="first-message-"))
    tree = tmp / "sportello"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", args.ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for venv in (".venv", ".venv-rasa"):
        (tree / venv).symlink_to((ROOT / venv).resolve())
    (tree / "models").mkdir(exist_ok=True)
    for model in (ROOT / "models").glob("*.tar.gz"):
        shutil.copy(model, tree / "models" / model.name)
    crm, rasa, actions = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("URP_", "RASA_"))}
    env.update(
        PYTHONPATH=str(tree),
        URP_PORT=str(crm),
        URP_PUBLIC_URL=f"http://127.0.0.1:{crm}",
        URP_RASA_URL=f"http://127.0.0.1:{rasa}",
        URP_ACTIONS_URL=f"http://127.0.0.1:{actions}/webhook",
        URP_CRM_URL=f"http://127.0.0.1:{crm}",
        PYTHONUNBUFFERED="1",
    )
    urp = [str(tree / ".venv" / "bin" / "python"), "-m", "crm.cli"]
    out: dict[str, object] = {"bench": "first_message", "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    for step in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run(urp + step, cwd=tree, env=env, check=True, capture_output=True, timeout=900)
    started = time.perf_counter()
    run = subprocess.Popen(
        urp + ["run"], cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if "Sportello URP is ready" in line or "not every part is ready" in line:
                out["ready"] = "is ready" in line
                break
        out["make_run_to_ready_s"] = round(time.perf_counter() - started, 1)
        ws_url = f"ws://127.0.0.1:{crm}/channels/web/ws"
        for label, text in (("first_message", "buongiorno"), ("first_question", "come rinnovo la carta d'identità?")):
            with connect(ws_url, open_timeout=30) as ws:
                ws.send(json.dumps({"type": "hello", "session": str(uuid.uuid4())}))
                json.loads(ws.recv(timeout=30))
                t0 = time.perf_counter()
                ws.send(json.dumps({"type": "message", "text": text, "client_id": "first"}))
                reply = None
                while reply is None:
                    event = json.loads(ws.recv(timeout=60))
                    if event.get("type") == "message":
                        reply = event
                out[f"{label}_answered_ms"] = round((time.perf_counter() - t0) * 1000)
                out[f"{label}_reply"] = reply["text"][:80]
        out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out, ensure_ascii=False))
    finally:
        run.terminate()
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
