"""The instance key file and log redaction."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.keys import derive_key, key_file_for, load_or_create_key
from bot.logging_setup import RedactFilter


def test_key_file_created_once_with_mode_600(tmp_path: Path) -> None:
    db_path = tmp_path / "var" / "haven.db"
    first = load_or_create_key(db_path, None)
    path = key_file_for(db_path)
    assert path.exists() and path.parent == db_path.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(db_path, None) == first
    assert len(first) == 32


def test_configured_key_wins_and_is_not_written(tmp_path: Path) -> None:
    db_path = tmp_path / "haven.db"
    key = load_or_create_key(db_path, "s" * 40)
    assert len(key) == 32
    assert not key_file_for(db_path).exists()


def test_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    db_path = tmp_path / "haven.db"
    key_file_for(db_path).write_text("not hex")
    with pytest.raises(ConfigError, match="damaged"):
        load_or_create_key(db_path, None)


def test_derived_keys_differ_by_purpose() -> None:
    master = b"m" * 32
    assert derive_key(master, "a") != derive_key(master, "b")
    assert derive_key(master, "a") == derive_key(master, "a")


def test_redact_filter_hides_secrets(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("haven.test.redact")
    handler_filter = RedactFilter(["tok.en.secret"])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="haven.test.redact"):
            logger.info("connecting with %s now", "tok.en.secret")
    finally:
        logger.removeFilter(handler_filter)
    assert "tok.en.secret" not in caplog.text
    assert "[redacted]" in caplog.text
