"""The instance key file and log redaction."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.keys import KeySource, derive_key, key_file_for, key_source, load_or_create_key
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


def test_key_path_puts_the_key_file_outside_the_data_folder(tmp_path: Path) -> None:
    db_path = tmp_path / "var" / "haven.db"
    key_path = tmp_path / "secrets" / "haven.key"
    first = load_or_create_key(db_path, None, key_path)
    assert key_path.exists() and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not key_file_for(db_path).exists()
    assert not db_path.parent.exists()  # nothing of the key lands in the data folder
    assert load_or_create_key(db_path, None, key_path) == first
    assert key_file_for(db_path, key_path) == key_path


def test_key_path_never_replaces_an_existing_key_beside_the_database(tmp_path: Path) -> None:
    db_path = tmp_path / "var" / "haven.db"
    old_key = load_or_create_key(db_path, None)
    key_path = tmp_path / "secrets" / "haven.key"
    with pytest.raises(ConfigError, match="move it to") as info:
        load_or_create_key(db_path, None, key_path)
    assert str(key_file_for(db_path)) in str(info.value) and not key_path.exists()
    key_path.parent.mkdir()
    key_file_for(db_path).rename(key_path)  # what the message asks for
    assert load_or_create_key(db_path, None, key_path) == old_key


def test_configured_key_wins_over_a_key_path(tmp_path: Path) -> None:
    key_path = tmp_path / "secrets" / "haven.key"
    key = load_or_create_key(tmp_path / "haven.db", "s" * 40, key_path)
    assert key == load_or_create_key(tmp_path / "other.db", "s" * 40)
    assert not key_path.exists()


def _settings(tmp_path: Path, **values: object) -> object:
    return load_settings(
        _env_file=None, discord_token="t", database_path=tmp_path / "var" / "haven.db", **values
    )


def test_key_source_beside_the_database_is_flagged(tmp_path: Path) -> None:
    source = key_source(_settings(tmp_path))  # type: ignore[arg-type]
    assert source == KeySource(file=tmp_path / "var" / "haven.key", beside_database=True)


def test_key_source_in_a_folder_below_the_database_is_flagged(tmp_path: Path) -> None:
    inside = tmp_path / "var" / "keys" / "haven.key"
    source = key_source(_settings(tmp_path, haven_key_path=inside))  # type: ignore[arg-type]
    assert source == KeySource(file=inside, beside_database=True)


def test_key_source_apart_from_the_database(tmp_path: Path) -> None:
    apart = tmp_path / "secrets" / "haven.key"
    source = key_source(_settings(tmp_path, haven_key_path=apart))  # type: ignore[arg-type]
    assert source == KeySource(file=apart, beside_database=False)


def test_key_source_from_the_environment_names_an_ignored_key_path(tmp_path: Path) -> None:
    apart = tmp_path / "secrets" / "haven.key"
    env_only = key_source(_settings(tmp_path, haven_secret_key="s" * 40))  # type: ignore[arg-type]
    assert env_only == KeySource(file=None, beside_database=False)
    both = key_source(
        _settings(tmp_path, haven_secret_key="s" * 40, haven_key_path=apart)  # type: ignore[arg-type]
    )
    assert both == KeySource(file=None, beside_database=False, ignored_file=apart)
    assert "s" * 40 not in repr(both)


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


def test_a_key_file_moves_into_haven_secret_key_unchanged(tmp_path: Path) -> None:
    """Moving to PostgreSQL (which needs HAVEN_SECRET_KEY) keeps a generated key's slips valid."""
    from datetime import date

    from bot.services.attendance import sign_slip, verify_slip

    filed = load_or_create_key(tmp_path / "haven.db", None)
    text = (tmp_path / "haven.key").read_text().strip()
    moved = load_or_create_key(tmp_path / "elsewhere.db", f"haven-key-v1:{text}")
    assert moved == filed
    slip = sign_slip(derive_key(filed, "proof"), 7, "Thursday Hope", date(2027, 1, 7), "Sam")
    assert verify_slip(derive_key(moved, "proof"), slip) is not None
    # An ordinary passphrase is still hashed, so it never equals the file's raw key.
    assert load_or_create_key(tmp_path / "x.db", text) != filed


@pytest.mark.parametrize("value", ["haven-key-v1:zz" + "0" * 62, "haven-key-v1:" + "ab" * 16])
def test_a_damaged_moved_key_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="haven-key-v1"):
        load_or_create_key(tmp_path / "haven.db", value)
