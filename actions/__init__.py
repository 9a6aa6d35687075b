"""Rasa custom actions (rasa-sdk action server, Python 3.11). They call the CRM over HTTP, never its database."""
