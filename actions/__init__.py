"""Rasa custom actions (rasa-sdk action server, Python 3.11). They call the CRM over HTTP, never its database.

Start: ``python -m rasa_sdk --actions actions --port 5055``. Importing this package sets two things before rasa-sdk
starts listening (it reads them after loading the actions):
- the address: loopback unless ``URP_ACTIONS_HOST`` says otherwise (rasa-sdk alone would listen on 0.0.0.0);
- the turn secret ``URP_ACTIONS_SECRET``, the same as the hub's: without it every action refuses to run, and in
  production the server refuses to start.
"""

import logging
import os

os.environ["SANIC_HOST"] = os.environ.get("URP_ACTIONS_HOST") or "127.0.0.1"
if not os.environ.get("URP_ACTIONS_SECRET"):
    if os.environ.get("URP_ENV") == "production":
        raise SystemExit("refusing to start the action server in production without URP_ACTIONS_SECRET")
    logging.getLogger("urp.actions").warning(
        "URP_ACTIONS_SECRET is not set: every action will refuse to run (the hub signs each turn with it)")

from actions import actions as _actions  # noqa: E402,F401  (registers the actions)
from actions import booking as _booking  # noqa: E402,F401
