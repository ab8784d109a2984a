"""Emulator state: in-memory tables of JSON rows, optionally persisted to one SQLite file.

Rows are plain dicts keyed by id in named tables. Callers mark changes with :meth:`Store.put` /
:meth:`Store.delete`; :meth:`Store.commit` writes just the changed rows in one transaction at the
end of every request, so a ``--state`` file survives a restart (or a SIGKILL between requests).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

TABLES = (
    "meta",
    "hit_types",
    "hits",
    "assignments",
    "tokens",
    "blocks",
    "qual_types",
    "quals",
    "workers",
    "bonuses",
    "notifications",
)

Row = dict[str, Any]


class Store:
    def __init__(self, path: str | Path | None = None, tables: tuple[str, ...] = TABLES) -> None:
        self.tables: dict[str, dict[str, Row]] = {name: {} for name in tables}
        self._dirty: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.path = Path(path) if path else None
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # Durable across a killed process (what tests exercise), not across power loss.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, key TEXT NOT NULL, "
                "data TEXT NOT NULL, PRIMARY KEY (tbl, key))"
            )
            self._db.commit()
            for tbl, key, data in self._db.execute("SELECT tbl, key, data FROM rows"):
                if tbl in self.tables:
                    self.tables[tbl][key] = json.loads(data)

    def __getitem__(self, table: str) -> dict[str, Row]:
        return self.tables[table]

    def put(self, table: str, key: str, row: Row) -> Row:
        self.tables[table][key] = row
        self._dirty.add((table, key))
        return row

    def delete(self, table: str, key: str) -> None:
        self.tables[table].pop(key, None)
        self._dirty.add((table, key))

    def commit(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            if self._db is None or not dirty:
                return
            with self._db:
                for table, key in dirty:
                    row = self.tables[table].get(key)
                    if row is None:
                        self._db.execute("DELETE FROM rows WHERE tbl=? AND key=?", (table, key))
                    else:
                        self._db.execute(
                            "INSERT OR REPLACE INTO rows (tbl, key, data) VALUES (?, ?, ?)",
                            (table, key, json.dumps(row, separators=(",", ":"))),
                        )

    def close(self) -> None:
        self.commit()
        if self._db is not None:
            self._db.close()
            self._db = None
