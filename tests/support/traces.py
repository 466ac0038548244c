"""Byte probes for "no trace left": the forms a user id or its keyed hashes take on disk."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from bot.keys import derive_key
from tests.e2e.harness import TEST_SECRET_KEY


def id_forms(user_id: int) -> list[bytes]:
    """A user id as SQLite could hold it: decimal text, or an 8-byte integer either way round."""
    return [
        str(user_id).encode(),
        user_id.to_bytes(8, "big"),
        user_id.to_bytes(8, "little"),
    ]


def hmac_forms(user_id: int, guild_id: int) -> list[bytes]:
    """Every keyed hash of this user Haven could compute under a key that is still stored."""
    master = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()
    keys = [master] + [
        derive_key(master, p)
        for p in ("attendance-proof", "modline-seal", "modline-conversation", "modline-block")
    ]
    messages = [
        str(user_id).encode(),
        f"{guild_id}:{user_id}".encode(),
        user_id.to_bytes(8, "big"),
        user_id.to_bytes(8, "little"),
    ]
    out = []
    for key in keys:
        for msg in messages:
            digest = hmac.new(key, msg, hashlib.sha256).digest()
            out += [digest, digest[:16]]
    return out


def database_bytes(path: Path) -> bytes:
    """The database file's bytes followed by its write-ahead log's, if there is one."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data
