"""The `urp` command on a fresh database: migrate, seed twice (idempotent), create operators, tokens, enti."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def urp(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("URP_")}
    env.update(URP_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", URP_VAR_DIR=str(tmp_path / "var"))

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [sys.executable, "-m", "crm.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        if ok:
            assert p.returncode == 0, p.stdout + p.stderr
        return p

    return run


def test_migrate_seed_is_idempotent_and_operators_validate(urp) -> None:  # type: ignore[no-untyped-def]
    assert "database at heads" in urp("db", "upgrade").stdout
    first = urp("demo", "seed").stdout
    assert "operator admin (admin) created" in first and "contact Maria Rossi created" in first
    second = urp("demo", "seed").stdout
    assert "created" not in second and "demo data ready" in second
    out = urp(
        "operators",
        "create",
        "--username",
        "mario",
        "--password",
        "una-password-sicura",
        "--role",
        "phone_operator",
        "--topics",
        "urp,anagrafe",
    ).stdout
    assert "operator mario" in out
    dup = urp(
        "operators",
        "create",
        "--username",
        "mario",
        "--password",
        "una-password-sicura",
        "--role",
        "operator",
        ok=False,
    )
    assert dup.returncode != 0 and "taken" in dup.stderr
    weak = urp("operators", "create", "--username", "luigi", "--password", "corta", "--role", "operator", ok=False)
    assert weak.returncode != 0 and "password" in weak.stderr
    bad_topic = urp(
        "operators",
        "create",
        "--username",
        "luigi",
        "--password",
        "una-password-sicura",
        "--role",
        "operator",
        "--topics",
        "inesistente",
        ok=False,
    )
    assert bad_topic.returncode != 0 and "unknown topics" in bad_topic.stderr
    token = urp("tokens", "create", "--name", "actions").stdout.strip()
    assert token.startswith("urp_") and len(token) > 30
    assert "id=" in urp("entes", "create", "--slug", "comune-due", "--name", "Comune Due").stdout
    assert urp("entes", "create", "--slug", "comune-due", "--name", "Comune Due", ok=False).returncode != 0
