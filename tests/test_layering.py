"""The layering of the packages holds (import-linter contracts in pyproject.toml), and MODULES names real packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_module_imports_and_a_misspelled_one_stops_the_start() -> None:
    from crm import modules

    modules.check()
    with pytest.raises(modules.UnknownModule, match="crm.dashbord"):
        modules.package("crm.dashbord")
    assert modules.part("crm.entes", "api") is None  # a package without routes is fine


def test_the_core_registers_no_scheduler_job_on_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import crm.scheduler as s, crm.db, crm.core.commands; print(len(s.JOBS))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "0", done.stderr
