"""Sportello URP back office: CRM, booking centre, istanze and the channel hub's storage."""

import importlib.util
import sys

if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    # httpcore 1.0.9 imports sniffio each time it sets up a lock or an event (several times a request); anyio 4.11+
    # no longer installs it, and Python does not remember a failed import: every call searched sys.path again (3% of
    # the hub's CPU under load, the Telegram sends and the Rasa calls). A None entry fails that import at once and
    # httpcore assumes asyncio, which is what runs here.
    sys.modules["sniffio"] = None  # type: ignore[assignment]
