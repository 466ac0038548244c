"""What differs between the SQLite and PostgreSQL spellings of Haven's SQL, in one place.

SQL is written once for SQLite with ``?`` placeholders. For PostgreSQL, ``to_postgres`` numbers
the placeholders (``$1``, ``$2`` ...) outside string literals, quoted names and comments, and
turns the id-list form ``IN (SELECT value FROM json_each(?))`` into ``= ANY($n::bigint[])``; the
caller then binds that parameter's JSON array as a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# An id list bound as one JSON array: SQLite expands it with json_each, PostgreSQL takes an array.
_ID_LIST = re.compile(r"\bIN\s*\(\s*SELECT\s+value\s+FROM\s+json_each\(\s*\?\s*\)\s*\)", re.I)
_ID_LIST_MARK = "\x00"

# add_bulk's columns; on PostgreSQL its rows go in by COPY (bot.db.postgres.copy_rows) and the
# statement below is the fallback when one meets an existing key.
BULK_JOB_COLUMNS = ("kind", "guild_id", "meeting_id", "occurrence", "slot", "fire_at")
# add_bulk's rows, one JSON array [[guild_id, meeting_id, occurrence, slot, fire_at], ...].
BULK_JOBS_SQLITE = (
    "INSERT INTO jobs (kind, guild_id, meeting_id, occurrence, slot, fire_at) "
    "SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 "
    "FROM json_each(?) WHERE true "  # WHERE: SQLite's rule for an upsert on a SELECT
    "ON CONFLICT (kind, meeting_id, occurrence, slot) DO NOTHING"
)
BULK_JOBS_POSTGRES = (
    "INSERT INTO jobs (kind, guild_id, meeting_id, occurrence, slot, fire_at) "
    "SELECT ?::text, g, m, o, s, f FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], "
    "?::bigint[]) AS r(g, m, o, s, f) "
    "ON CONFLICT (kind, meeting_id, occurrence, slot) DO NOTHING"
)

# record_outcomes' ledger rows: one statement for a burst instead of an INSERT per row.
_DELIVERY_COLUMNS = (
    "meeting_id, guild_id, occurrence, offset_minutes, target_user_id, status, reason, late, "
    "recorded_at"
)
_DELIVERY_CONFLICT = (
    "ON CONFLICT (meeting_id, occurrence, offset_minutes, target_user_id) DO NOTHING"
)
BULK_DELIVERIES_SQLITE = (
    f"INSERT INTO reminder_deliveries ({_DELIVERY_COLUMNS}) "  # noqa: S608 - constant columns
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, "
    "value ->> 6, value ->> 7, value ->> 8 FROM json_each(?) WHERE true " + _DELIVERY_CONFLICT
)
BULK_DELIVERIES_POSTGRES = (
    f"INSERT INTO reminder_deliveries ({_DELIVERY_COLUMNS}) "  # noqa: S608 - constant columns
    "SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::integer[], ?::bigint[], "
    "?::text[], ?::text[], ?::integer[], ?::bigint[]) " + _DELIVERY_CONFLICT
)

# PostgreSQL only (several processes): rows of the guilds on some shards, by Discord's formula
# shard_id = (guild_id >> 22) % shard_count; binds the shard count and the list of shard ids.
SHARD_FILTER = "((guild_id >> 22) % ?) = ANY(?::bigint[])"


def bulk_jobs(
    dialect: str, kind: str, rows: Sequence[tuple[int, int, str, str, int]]
) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters inserting many payload-less jobs of one kind."""
    if dialect == "postgres":
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return BULK_JOBS_POSTGRES, (kind, *(list(c) for c in columns))
    return BULK_JOBS_SQLITE, (kind, json.dumps(rows, separators=(",", ":")))


def bulk_deliveries(dialect: str, rows: Sequence[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters writing many ledger rows (in _DELIVERY_COLUMNS' order)."""
    if dialect == "postgres":
        columns = list(zip(*rows, strict=True)) if rows else [()] * 9
        return BULK_DELIVERIES_POSTGRES, tuple(list(c) for c in columns)
    return BULK_DELIVERIES_SQLITE, (json.dumps(rows, separators=(",", ":")),)


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> tuple[str, tuple[int, ...]]:
    """PostgreSQL's form of one statement and the indexes of its JSON id-list parameters."""
    marked = _ID_LIST.sub("= ANY(" + _ID_LIST_MARK + ")", sql)
    out: list[str] = []
    json_params: list[int] = []
    n = 0
    i = 0
    length = len(marked)
    while i < length:
        ch = marked[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < length:
                if marked[end] == ch:
                    if end + 1 < length and marked[end + 1] == ch:  # a doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(marked[i : end + 1])
            i = end + 1
        elif marked.startswith("--", i):
            end = marked.find("\n", i)
            end = length if end < 0 else end
            out.append(marked[i:end])
            i = end
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            i += 1
        elif ch == _ID_LIST_MARK:
            n += 1
            json_params.append(n - 1)
            out.append(f"${n}::bigint[]")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), tuple(json_params)


def bind(params: Any, json_params: tuple[int, ...]) -> list[Any]:
    """Positional parameters for asyncpg, each JSON id list decoded to a Python list."""
    if isinstance(params, dict):
        raise TypeError("named parameters are not used with PostgreSQL")
    values = list(params)
    for index in json_params:
        value = values[index]
        if isinstance(value, (str, bytes)):
            values[index] = json.loads(value)
    return values
