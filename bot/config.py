"""Settings from the environment and `.env`, validated once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

# Where each setting is explained, for error messages.
_HINTS: dict[str, str] = {
    "discord_token": "create a bot token in the Discord Developer Portal and set DISCORD_TOKEN",
    "database_path": "set DATABASE_PATH to a writable file path, e.g. var/haven.db",
    "database_url": "leave it empty (or sqlite:) for the embedded SQLite file, or use postgresql://user:password@host:5432/haven",
    "log_level": "use one of DEBUG, INFO, WARNING, ERROR",
    "dev_guild_id": "set DEV_GUILD_ID to a numeric server ID, or leave it empty",
    "discord_api_base": "use a full URL such as http://127.0.0.1:8080/api/v10, or leave it empty",
    "discord_gateway_url": "use a websocket URL such as ws://127.0.0.1:8080/gateway, or leave it empty",
    "haven_secret_key": "use at least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`) or leave it empty to generate one",
    "haven_secret_key.postgres_shared_key": "set the same HAVEN_SECRET_KEY (at least 32 characters) in every process's environment",
    "haven_key_path": "set HAVEN_KEY_PATH to a file path outside the data folder, e.g. /etc/haven/haven.key, or leave it empty to keep the key beside the database",
    "dm_rate_per_second": "use a positive number, e.g. 1",
    "identify_window_s": "leave it at 5 (Discord's IDENTIFY window); only a local test server uses a smaller one, e.g. 0.2",
    "rest_rate_per_second": "use Discord's global REST limit for this bot, 50 unless Discord raised it",
    "reminder_grace_minutes": "use a whole number of minutes from 0 to 1440",
    "http_host": "use an address such as 127.0.0.1",
    "http_port": "use a port number from 1 to 65535, or leave it empty to turn feeds off",
    "feeds_in_bot": "use true (the bot serves the feeds) or false (`python -m bot.feeds` serves them)",
    "public_base_url": "use the https URL your reverse proxy serves the feeds at, e.g. https://haven.example.org, or leave it empty",
    "guild_purge_days": "use a whole number of days from 0 to 365",
    "owner_ids": "use comma-separated numeric user IDs",
    "shard_count": "use a whole number of at least 1, or leave it empty to run unsharded",
    "shard_ids": "list this process's shards as IDs and ranges below SHARD_COUNT, e.g. 0-3 or 4,5, or leave it empty for all of them",
    # Per error type, when one setting can fail for unrelated reasons.
    "shard_count.sqlite_one_process": "sharding needs the PostgreSQL store (DATABASE_URL=postgresql://...); with SQLite leave SHARD_COUNT empty or set it to 1",
}


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """Shard IDs from `0-3` or `4,5` (ranges inclusive), in the order given."""
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
            raise ValueError(f"has {part}, not a shard ID or a range such as 0-3")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"has {part}, not a shard ID or a range running upwards")
        ids.extend(range(low, high + 1))
    return tuple(ids)


class Settings(BaseSettings):
    """Every knob a self-hoster can turn. See `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr
    database_path: Path = Path("var/haven.db")
    database_url: SecretStr | None = None  # None or sqlite: -> SQLite at DATABASE_PATH
    log_level: str = "INFO"
    dev_guild_id: int | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    # Validated even when unset: PostgreSQL needs it (see _shared_key_on_postgres).
    haven_secret_key: SecretStr | None = Field(default=None, validate_default=True)
    haven_key_path: Path | None = None  # None: `haven.key` beside the database
    dm_rate_per_second: float = Field(default=1.0, gt=0, le=50)
    reminder_grace_minutes: int = Field(default=10, ge=0, le=1440)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # False when `python -m bot.feeds` serves the feeds (several processes): the bots then leave
    # HTTP_PORT to it.
    feeds_in_bot: bool = True
    public_base_url: str | None = None  # where the reverse proxy exposes the feeds
    guild_purge_days: int = Field(default=30, ge=0, le=365)
    owner_ids: str = ""
    # Discord gateway sharding: an AutoShardedBot with these shards when SHARD_COUNT is set.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None  # None: all of SHARD_COUNT
    # Discord's per-bot limits, shared by every process: one IDENTIFY per bucket per window, and
    # the global REST requests per second (each process takes its shards' share).
    identify_window_s: float = Field(default=5.0, gt=0, le=60)
    rest_rate_per_second: float = Field(default=50.0, gt=0, le=100_000)

    @field_validator("discord_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _store_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip() in ("", "sqlite:")):
            return None
        if isinstance(value, str) and not value.startswith(
            ("sqlite:", "postgresql://", "postgres://")
        ):
            raise ValueError("is neither empty, sqlite: nor a postgresql:// URL")
        return None if isinstance(value, str) and value.startswith("sqlite:") else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("is not a log level")
        return level

    @field_validator(
        "discord_api_base",
        "discord_gateway_url",
        "public_base_url",
        "haven_secret_key",
        "haven_key_path",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("dev_guild_id", "http_port", "shard_count", mode="before")
    @classmethod
    def _blank_int_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("haven_secret_key")
    @classmethod
    def _key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("is shorter than 32 characters")
        return value

    @field_validator("haven_secret_key")
    @classmethod
    def _shared_key_on_postgres(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # Attendance HMACs, modline seals and proof slips must use one key in every process; a
        # generated key file is one per host.
        if value is None and info.data.get("database_url") is not None:
            raise PydanticCustomError(
                "postgres_shared_key",
                "is not set, but every process sharing PostgreSQL needs the same key",
            )
        return value

    @field_validator("haven_key_path")
    @classmethod
    def _usable_key_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if value.is_dir():
            raise ValueError(f"{value} is a folder, not a file")
        database = info.data.get("database_path")
        if database is not None and value.resolve() == Path(database).resolve():
            raise ValueError("is the database file itself")
        # The folder must exist or be creatable: the nearest existing ancestor must be a folder.
        ancestor = value.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ValueError(f"{value} cannot be created: {ancestor} is not a folder")
        return value

    @field_validator("discord_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("is not a ws(s) URL")
        return value

    @field_validator("owner_ids")
    @classmethod
    def _owner_ids(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip() and not part.strip().isdigit():
                raise ValueError("contains something that is not a numeric ID")
        return value

    @field_validator("shard_count")
    @classmethod
    def _one_process_on_sqlite(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Several shards mean several processes sharing one store; a SQLite file serves one.
        if value is not None and value > 1 and info.data.get("database_url") is None:
            raise PydanticCustomError(
                "sqlite_one_process",
                "is {count}, but the SQLite store is for one process on one shard",
                {"count": value},
            )
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_shard_ids(value) or None
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_in_range(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if value is None:
            return None
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError("is set without SHARD_COUNT")
        for shard in value:
            if not 0 <= shard < count:
                raise ValueError(f"has shard {shard}, outside 0-{count - 1}")
        for shard in value:
            if value.count(shard) > 1:
                raise ValueError(f"lists shard {shard} twice")
        return value

    @property
    def owner_id_set(self) -> frozenset[int]:
        """Owner user IDs allowed to run owner commands (besides the application owner)."""
        return frozenset(int(p) for p in self.owner_ids.split(",") if p.strip())


def secret_values(settings: Settings) -> list[str]:
    """The token, the instance key and the database password: never to appear in a log line."""
    from bot.db.base import password_of

    values = [settings.discord_token.get_secret_value()]
    if settings.haven_secret_key:
        values.append(settings.haven_secret_key.get_secret_value())
    if settings.database_url:
        values.append(password_of(settings.database_url.get_secret_value()) or "")
    return [v for v in values if v]


class FeedServerSettings(Settings):
    """The settings of `python -m bot.feeds`: it never talks to Discord and seals nothing."""

    discord_token: SecretStr = SecretStr("")

    @field_validator("discord_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        return value  # overrides the bot's check: no token is needed here

    @field_validator("haven_secret_key")
    @classmethod
    def _shared_key_on_postgres(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        return value  # overrides the bot's check: the feeds hash and seal nothing


def load_settings(*, require_token: bool = True, **overrides: object) -> Settings:
    """Build settings, turning validation errors into one clear ConfigError.

    ``require_token=False`` is for `python -m bot.feeds`, which needs no DISCORD_TOKEN.
    """
    kind = Settings if require_token else FeedServerSettings
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        env_name = field.upper()
        if err["type"] == "missing":
            problem = "is not set"
        else:
            problem = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        hint = _HINTS.get(f"{field}.{err['type']}") or _HINTS.get(field, "see .env.example")
        raise ConfigError(f"Setting {env_name} {problem}: {hint}.") from None
