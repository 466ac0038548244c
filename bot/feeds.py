"""`python -m bot.feeds`: serve the public feeds alone, without Discord, for several bot processes.

It needs no DISCORD_TOKEN and no gateway: it reads the database the bots write (DATABASE_URL, or
the SQLite file at DATABASE_PATH) and writes only each feed's content version, so every feed
server gives the same ETag for the same content. Set FEEDS_IN_BOT=false for the bot processes;
HTTP_HOST/HTTP_PORT (or --host/--port) say where this one listens. Room invites are made by the
bots and stored; this process only reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import load_settings, secret_values
from bot.errors import ConfigError, DatabaseUnavailableError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load settings, serve until stopped; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.feeds",
        description="Serve Haven's public feeds (iCalendar, Meeting Guide JSON) without Discord.",
    )
    parser.add_argument("--host", help="address to listen on (default: HTTP_HOST)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: HTTP_PORT; 0 lets the system choose)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(require_token=False)
    except ConfigError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2
    port = args.port if args.port is not None else settings.http_port
    if port is None or not 0 <= port <= 65535:
        print(
            "haven: Setting HTTP_PORT is not set: use a port number from 1 to 65535 "
            "(or --port) for the feed server.",
            file=sys.stderr,
        )
        return 2

    from bot.logging_setup import setup_logging
    from bot.runtime.feeds_http import run_feed_process

    setup_logging(settings.log_level, secret_values(settings))
    try:
        asyncio.run(run_feed_process(settings, args.host or settings.http_host, port))
    except (ConfigError, DatabaseUnavailableError) as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
