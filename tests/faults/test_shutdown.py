"""Clean shutdown (issue 14, item 7): SIGTERM stops taking work, hands back a turn that cannot finish within the
grace period, and exits without spinning; the restarted server answers that turn once. A second server on a busy
port fails at once, saying why."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from sqlalchemy import select

from tests.conftest import ROOT, free_port
from tests.faults.conftest import FaultStack, wait_until
from tests.faults.test_faults import _check, _ids, _post_telegram, _settle, _telegram_sent, _update

GRACE = 3.0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _turn_states(faults: FaultStack, update_id: str) -> list[str]:
    from channels.models import TurnJob
    from crm.conversations.models import Message

    async def read(s: Any) -> list[str]:
        ids = (
            await s.scalars(
                select(Message.id).where(
                    Message.ente_id == faults.ente.ente_id,
                    Message.channel == "telegram",
                    Message.channel_message_id == update_id,
                )
            )
        ).all()
        return list((await s.scalars(select(TurnJob.state).where(TurnJob.message_id.in_(ids)))).all())

    return faults.db.run(read)


def test_sigterm_hands_back_a_turn_in_flight_and_exits(faults: FaultStack) -> None:
    """Rasa is frozen (SIGSTOP) while a citizen's turn waits on it; SIGTERM to the CRM: the process exits after the
    grace period without a busy loop, the turn is back in the queue (not lost, not half-answered), and once Rasa
    thaws and the CRM is back the citizen gets one answer."""
    faults.stop("crm")
    saved = dict(faults.env)
    faults.env["URP_SHUTDOWN_GRACE_SECONDS"] = str(GRACE)
    faults.start("crm")
    rasa = faults.procs["rasa"]
    user, uid = 46_000_000 + next(_ids), str(760_000_000 + next(_ids))
    os.kill(rasa.pid, signal.SIGSTOP)
    try:
        assert _post_telegram(faults, _update(int(uid), user, "come rinnovo la carta d'identità?")) == 200
        assert wait_until(lambda: _turn_states(faults, uid) == ["running"], timeout=30), _turn_states(faults, uid)
        crm = faults.procs.pop("crm")
        cpu_before, started = _cpu_seconds(crm.pid), time.monotonic()
        crm.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(crm.pid, 0)
        crm.returncode = os.waitstatus_to_exitcode(status)
        took = time.monotonic() - started
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
    finally:
        os.kill(rasa.pid, signal.SIGCONT)
    # exited on its own (a hang would block wait4 until the suite's timeout); within grace plus closing time
    assert took < GRACE + 20, f"SIGTERM took {took:.1f} s with a {GRACE} s grace period"
    assert cpu < 0.6 * took + 0.5, f"{cpu:.2f} CPU seconds in {took:.1f} s of shutdown: a busy loop"
    assert _turn_states(faults, uid) == ["queued"], "the unfinished turn was not handed back"
    faults.env.clear()
    faults.env.update(saved)
    faults.start("crm")
    got = _settle(faults, "telegram", [uid], timeout=240)
    _check(
        "sigterm_turn_in_flight",
        got,
        [uid],
        _telegram_sent(faults, got, {uid: user}),
        grace_s=GRACE,
        exit_s=round(took, 1),
        cpu_s=round(cpu, 2),
    )


def test_a_second_server_on_a_busy_port_fails_at_once(faults: FaultStack, tmp_path: Any) -> None:
    """`urp serve` on a port someone holds exits non-zero and says so (Sanic alone logs and stays up)."""
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "crm.cli", "serve", "--port", str(port)],
            env=faults.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in proc.stderr + proc.stdout
