"""The instance secret key: HAVEN_SECRET_KEY, else the HAVEN_KEY_PATH file, else `haven.key`."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

KEY_FILE_NAME = "haven.key"
# HAVEN_SECRET_KEY=haven-key-v1:<the key file's hex> uses a generated key as it is (not hashed),
# so an install moving to PostgreSQL keeps its key: sealed conversations and slips stay valid.
RAW_KEY_PREFIX = "haven-key-v1:"


@dataclass(frozen=True)
class KeySource:
    """Where the instance key comes from, never the key itself."""

    file: Path | None  # None: HAVEN_SECRET_KEY supplies the key
    beside_database: bool  # in the database's folder, so a copy of that folder carries the key
    ignored_file: Path | None = None  # HAVEN_KEY_PATH, unused while HAVEN_SECRET_KEY is set


def key_file_for(database_path: Path, key_path: Path | None = None) -> Path:
    """Where the generated key lives: HAVEN_KEY_PATH, else beside the database (never inside)."""
    return key_path if key_path is not None else database_path.parent / KEY_FILE_NAME


def key_source(settings: Settings) -> KeySource:
    """Describe where the key comes from under these settings (HAVEN_SECRET_KEY wins)."""
    if settings.haven_secret_key is not None:
        return KeySource(file=None, beside_database=False, ignored_file=settings.haven_key_path)
    path = key_file_for(settings.database_path, settings.haven_key_path)
    data_folder = settings.database_path.resolve().parent
    return KeySource(file=path, beside_database=path.resolve().is_relative_to(data_folder))


def load_or_create_key(
    database_path: Path, configured: str | None, key_path: Path | None = None
) -> bytes:
    """Return 32 bytes of key material; generate the key file (mode 600) on first run."""
    if configured and configured.startswith(RAW_KEY_PREFIX):
        return _raw_key(configured[len(RAW_KEY_PREFIX) :])
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = key_file_for(database_path, key_path)
    try:
        if path.exists():
            text = path.read_text().strip()
            raw = bytes.fromhex(text)
            if len(raw) < 32:
                raise ConfigError(f"Key file {path} is damaged: restore it from your backup.")
            return raw[:32]
        beside = key_file_for(database_path)
        if path != beside and beside.exists():
            # A fresh key would silently orphan every keyed value and signed slip so far.
            raise ConfigError(
                f"HAVEN_KEY_PATH names {path}, which does not exist, but the key file {beside} "
                "does: stop Haven and move it to HAVEN_KEY_PATH (keep its mode 600)."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(raw.hex() + "\n")
        return raw
    except ValueError:
        raise ConfigError(f"Key file {path} is damaged: restore it from your backup.") from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read or create the key file {path} ({exc.strerror}): "
            "set HAVEN_SECRET_KEY or make the folder writable."
        ) from None


def _raw_key(text: str) -> bytes:
    """The 32 bytes of a key file's hex carried in HAVEN_SECRET_KEY."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raw = b""
    if len(raw) < 32:
        raise ConfigError(
            f"HAVEN_SECRET_KEY starts with {RAW_KEY_PREFIX} but what follows is not a key file's "
            "64 hex digits: copy the whole line of the old haven.key after the prefix."
        )
    return raw[:32]


def derive_key(master: bytes, purpose: str) -> bytes:
    """A sub-key for one purpose, so one use never weakens another."""
    return hmac.new(master, b"haven:" + purpose.encode(), hashlib.sha256).digest()
