"""Settings: defaults, validation, and one clear line for each bad setting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "DISCORD_TOKEN",
        "DATABASE_PATH",
        "LOG_LEVEL",
        "DEV_GUILD_ID",
        "HAVEN_SECRET_KEY",
        "HAVEN_KEY_PATH",
        "HTTP_PORT",
        "DISCORD_API_BASE",
        "DISCORD_GATEWAY_URL",
        "OWNER_IDS",
        "DATABASE_URL",
        "SHARD_COUNT",
        "SHARD_IDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    s = load_settings()
    assert s.discord_token.get_secret_value() == "abc.def"
    assert s.database_path == Path("var/haven.db")
    assert s.log_level == "INFO"
    assert s.http_port is None
    assert s.dev_guild_id is None
    assert s.haven_key_path is None
    assert "abc.def" not in repr(s)


def test_key_path_is_read_and_blank_means_beside_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("HAVEN_KEY_PATH", str(tmp_path / "keys" / "deeper" / "haven.key"))
    assert load_settings().haven_key_path == tmp_path / "keys" / "deeper" / "haven.key"
    monkeypatch.setenv("HAVEN_KEY_PATH", " ")
    assert load_settings().haven_key_path is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p, "is a folder, not a file"),
        (lambda p: p / "blocker" / "sub" / "haven.key", "cannot be created"),
        (lambda p: p / "haven.db", "is the database file"),
    ],
)
def test_bad_key_path_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make: Callable[[Path], Path],
    expected: str,
) -> None:
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "haven.db"))
    monkeypatch.setenv("HAVEN_KEY_PATH", str(make(tmp_path)))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("Setting HAVEN_KEY_PATH ") and expected in message
    assert "HAVEN_KEY_PATH to a file path" in message  # the hint says what to do
    assert "\n" not in message


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\nDEV_GUILD_ID=42\nHTTP_PORT=\n")
    s = load_settings()
    assert s.discord_token.get_secret_value() == "from-file"
    assert s.dev_guild_id == 42
    assert s.http_port is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "Setting DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "  "}, "Setting DISCORD_TOKEN is empty"),
        ({"DISCORD_TOKEN": "x", "LOG_LEVEL": "LOUD"}, "Setting LOG_LEVEL is not a log level"),
        ({"DISCORD_TOKEN": "x", "DEV_GUILD_ID": "abc"}, "Setting DEV_GUILD_ID"),
        ({"DISCORD_TOKEN": "x", "HTTP_PORT": "70000"}, "Setting HTTP_PORT"),
        ({"DISCORD_TOKEN": "x", "HAVEN_SECRET_KEY": "short"}, "shorter than 32"),
        ({"DISCORD_TOKEN": "x", "DISCORD_API_BASE": "ftp://x"}, "Setting DISCORD_API_BASE"),
        ({"DISCORD_TOKEN": "x", "OWNER_IDS": "12,bob"}, "Setting OWNER_IDS"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "short" not in message.replace("shorter", "")  # the secret value is never echoed


def test_unsharded_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    s = load_settings()
    assert s.shard_count is None and s.shard_ids is None


def test_one_shard_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("SHARD_COUNT", "1")
    monkeypatch.setenv("SHARD_IDS", "0")
    s = load_settings()
    assert s.shard_count == 1 and s.shard_ids == (0,)
    monkeypatch.setenv("SHARD_IDS", " ")
    assert load_settings().shard_ids is None  # blank: every shard of SHARD_COUNT
    assert load_settings(shard_count=1, shard_ids=[0]).shard_ids == (0,)


def test_shard_ids_take_lists_and_ranges() -> None:
    from bot.config import parse_shard_ids

    assert parse_shard_ids("4,5") == (4, 5)
    assert parse_shard_ids("0-3, 7") == (0, 1, 2, 3, 7)
    assert parse_shard_ids(" 2 ") == (2,)


def test_postgresql_store_takes_several_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DATABASE_URL", "postgresql://haven@127.0.0.1:5432/haven")
    monkeypatch.setenv("HAVEN_SECRET_KEY", "k" * 32)  # PostgreSQL needs one shared key
    monkeypatch.setenv("SHARD_COUNT", "8")
    monkeypatch.setenv("SHARD_IDS", "4-6,7")
    s = load_settings()
    assert (s.shard_count, s.shard_ids) == (8, (4, 5, 6, 7))
    monkeypatch.setenv("SHARD_IDS", "6-8")
    with pytest.raises(ConfigError, match=r"^Setting SHARD_IDS has shard 8, outside 0-7: "):
        load_settings()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHARD_COUNT": "0"}, "Setting SHARD_COUNT"),
        ({"SHARD_COUNT": "two"}, "Setting SHARD_COUNT"),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "1"}, "Setting SHARD_IDS has shard 1, outside 0-0"),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "0,0"}, "Setting SHARD_IDS lists shard 0 twice"),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "0-x"}, "Setting SHARD_IDS has 0-x, not a shard ID"),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "1-0"}, "Setting SHARD_IDS has 1-0, not a shard ID"),
        ({"SHARD_IDS": "0"}, "Setting SHARD_IDS is set without SHARD_COUNT"),
    ],
)
def test_bad_shard_settings_are_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_sqlite_refuses_more_than_one_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("SHARD_COUNT", "2")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith("Setting SHARD_COUNT is 2, but the SQLite store")
    assert "sharding needs the PostgreSQL store (DATABASE_URL=postgresql://" in message
    assert "\n" not in message


def _run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_main_without_token_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run_bot({}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("haven: Setting DISCORD_TOKEN is not set")
    assert "Traceback" not in result.stderr


def test_main_with_uncreatable_database_folder_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run_bot(
        {"DISCORD_TOKEN": "t", "DATABASE_PATH": str(blocker / "sub" / "h.db")}, tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("haven: Cannot create the database folder")
    assert "Traceback" not in result.stderr


def test_main_with_corrupt_database_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "haven.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = _run_bot({"DISCORD_TOKEN": "t", "DATABASE_PATH": str(bad)}, tmp_path)
    assert result.returncode == 2
    assert "not a usable SQLite database" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_main_with_two_shards_on_sqlite_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run_bot({"DISCORD_TOKEN": "t", "SHARD_COUNT": "2", "SHARD_IDS": "0-1"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("haven: Setting SHARD_COUNT is 2, but")
    assert "PostgreSQL" in lines[0]
    assert not (tmp_path / "var").exists()  # refused before the database is created
