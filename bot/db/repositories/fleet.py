"""The fleet's shared Discord limits, on PostgreSQL: IDENTIFY slots and token buckets.

Only a fleet on PostgreSQL calls these (one SQLite process keeps its limits in memory). Times are
the database server's clock, the one clock every process shares, in seconds since the epoch.
"""

from __future__ import annotations

from bot.db import Transaction

# pg_advisory_xact_lock(IDENTIFY_LOCK, bucket): one process at a time hands out a bucket's slots.
IDENTIFY_LOCK = 0x4856_4944  # "HVID"

# Stamps the bucket's turn as taken now, unless its last turn was less than `spacing` ago.
_TAKE_IDENTIFY = (
    "WITH now AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS t) "
    "INSERT INTO global_gateway_identify (bucket, last_at) VALUES (?::integer, (SELECT t FROM now)) "
    "ON CONFLICT (bucket) DO UPDATE SET last_at = excluded.last_at "
    "WHERE global_gateway_identify.last_at + ?::float8 <= excluded.last_at "
    "RETURNING last_at"
)
_IDENTIFY_WAIT = (
    "SELECT last_at + ?::float8 - EXTRACT(EPOCH FROM clock_timestamp())::float8 "
    "FROM global_gateway_identify WHERE bucket = ?::integer"
)

# A token bucket allowed to go negative: the draw is also the reservation of a turn.
_TAKE_TOKEN = (
    "WITH now AS (SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8 AS t) "
    "INSERT INTO global_rate_buckets (name, tokens, at) "
    "VALUES (?, ?::float8 - 1, (SELECT t FROM now)) "
    "ON CONFLICT (name) DO UPDATE SET tokens = LEAST(?::float8, "
    "global_rate_buckets.tokens + (excluded.at - global_rate_buckets.at) * ?::float8) - 1, "
    "at = excluded.at "
    "RETURNING tokens"
)


async def take_identify_turn(tx: Transaction, bucket: int, spacing: float) -> float:
    """Take a bucket's IDENTIFY turn for the whole fleet: 0 when taken now, else seconds to wait.

    The turn is stamped when taken, just before the IDENTIFY goes out, so a waiter that woke late
    still leaves the next one a full window.
    """
    await tx.execute(
        "SELECT pg_advisory_xact_lock(?::integer, ?::integer)", (IDENTIFY_LOCK, bucket)
    )
    if await tx.fetchone(_TAKE_IDENTIFY, (bucket, spacing)) is not None:
        return 0.0
    wait = await tx.fetchval(_IDENTIFY_WAIT, (spacing, bucket))
    return max(0.0, float(wait or 0.0))


async def take_token(tx: Transaction, name: str, rate: float, burst: float = 1.0) -> float:
    """Draw one token from a shared bucket (refilled at `rate`/s up to `burst`); seconds to wait."""
    tokens = await tx.fetchval(_TAKE_TOKEN, (name, burst, burst, rate))
    return max(0.0, -float(tokens) / rate)
