"""Routes of the sportello digitale (``/sportello/...``), one module per service; this module mounts them."""

from __future__ import annotations

from crm.sportello import area, booking, istanze, pages, reports  # noqa: F401 - each registers its routes on bp
from crm.sportello.kit import bp

__all__ = ["bp"]
