"""`python -m bot`: start Haven. `--sync` also syncs slash commands at start; `migrate` only
migrates; `copy-db --from FILE --to URL` moves a SQLite install into an empty PostgreSQL database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import discord

from bot.config import Settings, load_settings, secret_values
from bot.db import is_postgres_url, open_database, password_of
from bot.errors import ConfigError, DatabaseUnavailableError
from bot.keys import RAW_KEY_PREFIX, key_file_for


async def migrate(settings: Settings) -> list[int]:
    """Open the configured store, apply pending migrations, close it; return the versions."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    db = await open_database(url, settings.database_path)
    try:
        return await db.migrate()
    finally:
        await db.close()


def copy_db(source: Path | None, target: str | None) -> int:
    """Run copy-db and print each table's count and checksums; return the exit code."""
    from bot.db.copy import copy_database
    from bot.logging_setup import setup_logging

    if source is None or target is None or not is_postgres_url(target):
        print(
            "haven: copy-db needs --from <the bot's SQLite file> and --to <postgresql:// URL of "
            "an empty database>.",
            file=sys.stderr,
        )
        return 2
    setup_logging("WARNING", [password_of(target) or ""])
    try:
        copied = asyncio.run(copy_database(source, target))
    except DatabaseUnavailableError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2
    for table in copied:
        rows = "row" if table.rows == 1 else "rows"
        print(
            f"  {table.table}: {table.rows} {rows}, "
            f"checksum {table.source_checksum} = {table.target_checksum}"
        )
    total = sum(t.rows for t in copied)
    print(
        f"haven: copied {len(copied)} tables ({total} rows); every count and checksum matches. "
        "Point DATABASE_URL at the new database and start the bot."
    )
    key_file = key_file_for(source)
    if key_file.exists():
        # The key stays in its file: print how to carry it, never the key itself.
        print(
            f"haven: this install's key is in {key_file}. Keep it: set "
            f'HAVEN_SECRET_KEY="{RAW_KEY_PREFIX}$(cat {key_file})" in every process, so '
            "moderator-line conversations and signed slips stay valid."
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load settings, run until stopped; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the Haven bot.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["migrate", "copy-db"],
        help="migrate: apply pending database migrations and exit (for deploy pipelines); "
        "copy-db: copy a stopped bot's SQLite file into an empty PostgreSQL database, verified",
    )
    parser.add_argument("--from", dest="source", type=Path, help="copy-db: the SQLite file")
    parser.add_argument("--to", dest="target", help="copy-db: the postgresql:// URL")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="sync slash commands at start (to DEV_GUILD_ID if set, else globally)",
    )
    args = parser.parse_args(argv)
    if args.command == "copy-db":
        return copy_db(args.source, args.target)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2

    from bot.logging_setup import setup_logging
    from bot.runtime.app import run

    setup_logging(settings.log_level, secret_values(settings))
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
