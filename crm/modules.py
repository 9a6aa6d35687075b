"""The packages that make up the application, in mounting order.

Each entry is a package. ``create_app`` mounts its ``api.bp`` when it has one and calls its ``setup(app)`` when its
``__init__`` defines one (senders, health probes, scheduler jobs); the CLI mounts its ``cli.cli``; ``urp demo seed``
runs its ``demo.seed``; ``crm.registry`` imports its ``models``. A name that does not import is an error at start, so
a typo never switches a module off without a word.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

MODULES: tuple[str, ...] = (
    "crm.entes",
    "crm.notifications",
    "crm.operators",
    "crm.offices",
    "crm.contacts",
    "crm.conversations",
    "crm.tickets",
    "crm.audit",
    "crm.events",
    "crm.kb",
    "crm.replies",
    "crm.bookings",
    "crm.instances",
    "crm.citizens",
    "crm.sportello",
    "channels",
    "crm.console",
)


class UnknownModule(RuntimeError):
    """A name in MODULES that is not an importable package."""


def package(name: str) -> ModuleType:
    """The module's package; a misspelled or missing one raises ``UnknownModule``."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise UnknownModule(f"MODULES names {name!r}, which is not an importable package") from exc
        raise


def part(name: str, part_name: str) -> ModuleType | None:
    """``<name>.<part_name>`` (``api``, ``models``, ``cli``, ``demo``) when the package has it, else None. Errors
    inside an existing part propagate."""
    package(name)
    if importlib.util.find_spec(f"{name}.{part_name}") is None:
        return None
    return importlib.import_module(f"{name}.{part_name}")


def check() -> None:
    """Fail at start on any name in MODULES that does not import."""
    for name in MODULES:
        package(name)
