"""SQLite statements in one trip to aiosqlite's thread instead of four.

SQLAlchemy's aiosqlite adapter runs each statement as four calls queued to the connection's thread (open a cursor,
execute, fetch the rows, close the cursor), each a hand-over between the event loop and that thread: 240-300 us of
CPU a statement where SQLite's own work is 8 us, most of the hub's database CPU (about 30 statements a citizen's
message). Here the cursor's ``execute`` does the four in one function on that thread: same SQL, same transactions,
same errors (raised through the adapter's own handling), and the cursor is always closed on the thread, even when
the caller is cancelled meanwhile. Server-side cursors (streamed results) are left as they are.

Relies on aiosqlite's ``Connection._execute`` (queue a function to its thread) and ``_conn`` (the sqlite3
connection), both in the pinned aiosqlite (constraints.txt); ``install`` leaves any other adapter alone.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_ss_cursor,
)


def _run(raw: Any, operation: Any, parameters: Any, many: bool) -> tuple[Any, list[Any] | None, Any, int]:
    """On aiosqlite's thread: the statement, its rows, and the cursor closed whatever happens."""
    cur = raw.cursor()
    try:
        if many:
            cur.executemany(operation, parameters)
        elif parameters is None:
            cur.execute(operation)
        else:
            cur.execute(operation, parameters)
        description = cur.description
        return description, cur.fetchall() if description else None, cur.lastrowid, cur.rowcount
    finally:
        cur.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _one_hop(self, operation: Any, parameters: Any, many: bool) -> None:
        try:
            conn = self._connection
            description, rows, lastrowid, rowcount = self.await_(
                conn._execute(lambda: _run(conn._conn, operation, parameters, many))
            )
            if description:
                self.description = description
                self.lastrowid = self.rowcount = -1
                self._rows = deque(rows or ())
            else:
                self.description = None
                self.lastrowid = lastrowid
                self.rowcount = rowcount
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._one_hop(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._one_hop(operation, seq_of_parameters, many=True)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return AsyncAdapt_aiosqlite_ss_cursor(self) if server_side else OneHopCursor(self)


def install(dbapi_connection: Any) -> None:
    """At connect (``crm.db``): SQLAlchemy's adapted aiosqlite connection opens one-hop cursors from now on."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = OneHopConnection
