"""Rasa custom actions (rasa-sdk action server, Python 3.11). They call the CRM over HTTP, never its database."""

from actions import actions as _actions  # noqa: F401  (registers the actions)
from actions import booking as _booking  # noqa: F401
