"""Is a TCP port free to listen on? Asked before a server starts, so a second server on a busy port stops at once with
a clear message: Sanic logged an error and kept the process alive (the CRM's `urp serve`, the action server)."""

from __future__ import annotations

import errno
import socket

IN_USE = "is already in use"


def busy_reason(host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound; otherwise why not, in English (an operator reads it in a terminal)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return IN_USE if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return None
