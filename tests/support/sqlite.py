"""Reading a Haven database file directly, as a test does while (or after) another process runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def query(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every row `sql` returns from the database file."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count_while_running(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    """A COUNT(*) read-only beside a running bot; -1 while its write lock holds (ask again)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()
