"""Rasa custom actions (rasa-sdk action server, Python 3.11): one module per flow over one ``CrmClient``
(``crm_client.py``); they call the CRM over HTTP, never its database, and say only the domain's responses.

    knowledge.py  answers from the knowledge base, feedback, out of scope, small talk that asks more
    nlu_words.py  what a message says beyond an intent's training examples (bot/data/nlu.yml)
    booking.py    booking form and booking          cancel.py   cancelling a booking
    status.py     where a request / istanza / booking stands, the citizen's appointments
    report.py     segnalazioni                       istanza.py  formal requests
    handoff.py    to a person (queue or callback)    turn.py     only turns the hub signed

Start: ``python -m actions --port 5055``. Importing this package sets two things before rasa-sdk
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
        "URP_ACTIONS_SECRET is not set: every action will refuse to run (the hub signs each turn with it)"
    )

from actions import booking, cancel, handoff, istanza, knowledge, report, status  # noqa: E402,F401  (registers them)
