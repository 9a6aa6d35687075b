"""Screenshots of every console screen (each role), every sportello page (signed out and as a signed-in citizen) and
the chat widget at 1366x768, 768x1024 and 390x844, into var/screens/ (or the directory given), to be looked at.

It runs the layout browser tests (tests/console/test_layout_browser.py, tests/sportello/test_layout_browser.py) and the
widget's who-is-talking test with URP_SCREENS set: their own server, a day's work of data, sign-in through the forms
and the demo identity provider, Debian's Chromium.
Usage: .venv/bin/python scripts/screenshots.py [directory] [extra pytest arguments]"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/console/test_layout_browser.py",
    "tests/sportello/test_layout_browser.py",
    # the chat widget: opened, an operator talking (name, notices), the rating at the close, rated
    "tests/channels/test_who_is_talking.py::test_widget_shows_the_operator_the_notices_and_takes_the_rating",
]


def main(argv: list[str]) -> int:
    out = Path(argv[0]).resolve() if argv and not argv[0].startswith("-") else ROOT / "var" / "screens"
    extra = argv[1:] if argv and not argv[0].startswith("-") else argv
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "URP_SCREENS": str(out)}
    rc = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *extra], cwd=ROOT, env=env
    )
    shots = sorted(out.glob("*.png"))
    print(f"{len(shots)} screenshots in {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
