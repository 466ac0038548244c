"""The instance secret key: from HAVEN_SECRET_KEY, else a key file beside the database."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from bot.errors import ConfigError

KEY_FILE_NAME = "haven.key"


def key_file_for(database_path: Path) -> Path:
    """Where the generated key lives: beside the database, never inside it."""
    return database_path.parent / KEY_FILE_NAME


def load_or_create_key(database_path: Path, configured: str | None) -> bytes:
    """Return 32 bytes of key material; generate the key file (mode 600) on first run."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = key_file_for(database_path)
    try:
        if path.exists():
            text = path.read_text().strip()
            raw = bytes.fromhex(text)
            if len(raw) < 32:
                raise ConfigError(f"Key file {path} is damaged: restore it from your backup.")
            return raw[:32]
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


def derive_key(master: bytes, purpose: str) -> bytes:
    """A sub-key for one purpose, so one use never weakens another."""
    return hmac.new(master, b"haven:" + purpose.encode(), hashlib.sha256).digest()
