"""`python -m bot`: start Haven. `--sync` also syncs slash commands at start; `migrate` only migrates."""

from __future__ import annotations

import argparse
import asyncio
import sys

import discord

from bot.config import Settings, load_settings
from bot.db import open_database, password_of
from bot.errors import ConfigError, DatabaseUnavailableError


async def migrate(settings: Settings) -> list[int]:
    """Open the configured store, apply pending migrations, close it; return the versions."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    db = await open_database(url, settings.database_path)
    try:
        return await db.migrate()
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load settings, run until stopped; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the Haven bot.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["migrate"],
        help="migrate: apply pending database migrations and exit (for deploy pipelines)",
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="sync slash commands at start (to DEV_GUILD_ID if set, else globally)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2

    from bot.logging_setup import setup_logging
    from bot.runtime.app import run

    secrets = [settings.discord_token.get_secret_value()]
    if settings.haven_secret_key:
        secrets.append(settings.haven_secret_key.get_secret_value())
    if settings.database_url:
        secrets.append(password_of(settings.database_url.get_secret_value()) or "")
    setup_logging(settings.log_level, [s for s in secrets if s])
    try:
        if args.command == "migrate":
            applied = asyncio.run(migrate(settings))
            print(f"haven: applied {len(applied)} migration(s); the database is up to date.")
            return 0
        asyncio.run(run(settings, sync=args.sync))
    except (ConfigError, DatabaseUnavailableError) as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print("haven: Discord rejected DISCORD_TOKEN: copy the bot token again.", file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print(
            "haven: Enable the Server Members intent for the bot in the Developer Portal.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
