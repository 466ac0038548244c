"""Resource cards in the database: guild cards, and a guild's overrides of the shipped ones.

Callers see one kind of card: reading applies a guild's override to a shipped card, and
`set_enabled` / `set_verified_on` write the override or the guild card's row as the card needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from bot.clock import iso, utc_from_iso
from bot.db import Reader, Transaction
from bot.models.resources import GUILD_PREFIX, Card, Contact, Origin, Status

_CARD_COLUMNS = (
    "id, status, origin, enabled, revision, title, summary, region, tags, contacts, source_url, "
    "verified_on, review_days, suggested_by_user_id, approved_by_user_id, approved_at, "
    "rejected_at, review_channel_id, review_message_id"
)


def _from_shipped(card: Card, enabled: bool | None, verified_on: str | None) -> Card:
    """A shipped card as a guild sees it, with the guild's override applied."""
    if verified_on:
        card = card.verified(date.fromisoformat(verified_on))
    return replace(card, enabled=card.enabled_by_default if enabled is None else bool(enabled))


def _from_row(row: Any) -> Card:
    """A guild card from its database row."""
    contacts = tuple(
        Contact(kind=c["kind"], value=c["value"], label=c.get("label")) for c in json.loads(row[9])
    )
    return Card(
        id=f"{GUILD_PREFIX}{row[0]}",
        status=Status(row[1]),
        origin=Origin(row[2]),
        enabled=bool(row[3]),
        revision=row[4],
        title=row[5],
        summary=row[6],
        region=row[7],
        tags=frozenset(t for t in row[8].split(",") if t),
        contacts=contacts,
        source_url=row[10],
        verified_on=date.fromisoformat(row[11]) if row[11] else None,
        review_days=row[12],
        suggested_by_user_id=row[13],
        approved_by_user_id=row[14],
        approved_at=utc_from_iso(row[15]) if row[15] else None,
        rejected_at=utc_from_iso(row[16]) if row[16] else None,
        review_channel_id=row[17],
        review_message_id=row[18],
    )


def _contacts_json(contacts: Iterable[Contact]) -> str:
    """Contacts as stored (compact JSON)."""
    out = []
    for c in contacts:
        item = {"kind": c.kind, "value": c.value}
        if c.label:
            item["label"] = c.label
        out.append(item)
    return json.dumps(out, separators=(",", ":"))


def _row_number(card_id: str) -> int | None:
    """The row id in 'g-12', or None when the id cannot name a guild card."""
    number = card_id[len(GUILD_PREFIX) :]
    # ASCII digits only ('²'.isdigit() is true, int() refuses it) and within SQLite's integers.
    if (
        card_id.startswith(GUILD_PREFIX)
        and number.isascii()
        and number.isdigit()
        and len(number) < 19
    ):
        return int(number)
    return None


# -- reading ----------------------------------------------------------------------------------


async def all_cards(db: Reader, guild_id: int, shipped: Mapping[str, Card]) -> list[Card]:
    """Every card the guild knows, in any state: shipped (by id, overrides applied), then its own."""
    rows = await db.fetchall(
        "SELECT card_id, enabled, verified_on FROM resource_overrides WHERE guild_id = ?",
        (guild_id,),
    )
    overrides = {r[0]: (r[1], r[2]) for r in rows}
    cards = [
        _from_shipped(card, *overrides.get(cid, (None, None)))
        for cid, card in sorted(shipped.items())
    ]
    own = await db.fetchall(
        f"SELECT {_CARD_COLUMNS} FROM resource_cards WHERE guild_id = ? ORDER BY id",  # noqa: S608
        (guild_id,),
    )
    return cards + [_from_row(r) for r in own]


async def get_card(
    db: Reader, guild_id: int, card_id: str, shipped: Mapping[str, Card]
) -> Card | None:
    """One card of the guild by its (normalised) id, in any state; None when there is none."""
    if card_id in shipped:
        row = await db.fetchone(
            "SELECT enabled, verified_on FROM resource_overrides WHERE guild_id = ? AND card_id = ?",
            (guild_id, card_id),
        )
        return _from_shipped(shipped[card_id], *(tuple(row) if row else (None, None)))
    number = _row_number(card_id)
    if number is None:
        return None
    row = await db.fetchone(
        f"SELECT {_CARD_COLUMNS} FROM resource_cards WHERE guild_id = ? AND id = ?",  # noqa: S608
        (guild_id, number),
    )
    return _from_row(row) if row is not None else None


async def pending_cards(db: Reader, guild_id: int) -> list[Card]:
    """Guild cards waiting for review, oldest first."""
    rows = await db.fetchall(
        f"SELECT {_CARD_COLUMNS} FROM resource_cards "  # noqa: S608
        "WHERE guild_id = ? AND status = 'pending' ORDER BY updated_at, id",
        (guild_id,),
    )
    return [_from_row(r) for r in rows]


async def count_waiting(db: Reader, guild_id: int, user_id: int) -> int:
    """How many of a person's suggestions wait for review in a guild."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM resource_cards "
            "WHERE guild_id = ? AND suggested_by_user_id = ? AND status = 'pending'",
            (guild_id, user_id),
        )
    )


# -- writing ----------------------------------------------------------------------------------


async def insert_card(
    tx: Transaction,
    guild_id: int,
    card: Card,
    *,
    suggested_by: int | None,
    approved_by: int | None,
    now: datetime,
) -> str:
    """Store a validated guild card with its status and origin; return its id ('g-12')."""
    approved = card.status is Status.APPROVED
    stamp = iso(now)
    row_id = await tx.insert(
        "INSERT INTO resource_cards (guild_id, status, origin, title, summary, region, "
        "tags, contacts, source_url, verified_on, review_days, suggested_by_user_id, "
        "approved_by_user_id, approved_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            card.status.value,
            card.origin.value,
            card.title,
            card.summary,
            card.region,
            ",".join(sorted(card.tags)),
            _contacts_json(card.contacts),
            card.source_url,
            card.verified_on.isoformat() if approved and card.verified_on else None,
            card.review_days,
            suggested_by,
            approved_by,
            stamp if approved else None,
            stamp,
            stamp,
        ),
    )
    return f"{GUILD_PREFIX}{row_id}"


async def approve(
    tx: Transaction,
    guild_id: int,
    card: Card,
    *,
    source_url: str | None,
    verified_on: date,
    moderator_id: int,
    now: datetime,
) -> bool:
    """Approve a pending guild card at its revision; False if someone reviewed it in between."""
    changed = await tx.execute(
        "UPDATE resource_cards SET status = 'approved', source_url = ?, verified_on = ?, "
        "approved_by_user_id = ?, approved_at = ?, updated_at = ? "
        "WHERE id = ? AND guild_id = ? AND status = 'pending' AND revision = ?",
        (
            source_url,
            verified_on.isoformat(),
            moderator_id,
            iso(now),
            iso(now),
            card.row_id,
            guild_id,
            card.revision,
        ),
    )
    return bool(changed)


async def reject(tx: Transaction, guild_id: int, card: Card, *, now: datetime) -> bool:
    """Reject a pending guild card at its revision; False if someone reviewed it in between."""
    changed = await tx.execute(
        "UPDATE resource_cards SET status = 'rejected', rejected_at = ?, updated_at = ? "
        "WHERE id = ? AND guild_id = ? AND status = 'pending' AND revision = ?",
        (iso(now), iso(now), card.row_id, guild_id, card.revision),
    )
    return bool(changed)


async def replace_content(
    tx: Transaction, guild_id: int, card: Card, content: Card, *, now: datetime
) -> None:
    """Give a guild card new content; it is pending again, at the next revision."""
    await tx.execute(
        "UPDATE resource_cards SET status = 'pending', revision = revision + 1, "
        "title = ?, summary = ?, region = ?, tags = ?, contacts = ?, source_url = ?, "
        "review_days = ?, approved_by_user_id = NULL, approved_at = NULL, "
        "rejected_at = NULL, updated_at = ? WHERE id = ? AND guild_id = ?",
        (
            content.title,
            content.summary,
            content.region,
            ",".join(sorted(content.tags)),
            _contacts_json(content.contacts),
            content.source_url,
            content.review_days,
            iso(now),
            card.row_id,
            guild_id,
        ),
    )


async def set_enabled(
    tx: Transaction, guild_id: int, card: Card, enabled: bool, *, now: datetime
) -> None:
    """Turn a card on or off in a guild (a shipped card's override, or the guild card's row)."""
    if card.shipped:
        await tx.execute(
            "INSERT INTO resource_overrides (guild_id, card_id, enabled, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, card_id) DO UPDATE SET "
            "enabled = excluded.enabled, updated_at = excluded.updated_at",
            (guild_id, card.id, int(enabled), iso(now)),
        )
        return
    await tx.execute(
        "UPDATE resource_cards SET enabled = ?, updated_at = ? WHERE id = ? AND guild_id = ?",
        (int(enabled), iso(now), card.row_id, guild_id),
    )


async def set_verified_on(
    tx: Transaction, guild_id: int, card: Card, day: date, *, now: datetime
) -> None:
    """Record the day a card was last checked in a guild (override or guild card's row)."""
    if card.shipped:
        await tx.execute(
            "INSERT INTO resource_overrides (guild_id, card_id, verified_on, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, card_id) DO UPDATE SET "
            "verified_on = excluded.verified_on, updated_at = excluded.updated_at",
            (guild_id, card.id, day.isoformat(), iso(now)),
        )
        return
    await tx.execute(
        "UPDATE resource_cards SET verified_on = ?, updated_at = ? WHERE id = ? AND guild_id = ?",
        (day.isoformat(), iso(now), card.row_id, guild_id),
    )


async def set_review_message(
    tx: Transaction, guild_id: int, card: Card, channel_id: int, message_id: int
) -> None:
    """Remember where a guild card's Approve / Reject buttons were posted."""
    await tx.execute(
        "UPDATE resource_cards SET review_channel_id = ?, review_message_id = ? "
        "WHERE id = ? AND guild_id = ?",
        (channel_id, message_id, card.row_id, guild_id),
    )


async def forget_user(tx: Transaction, user_id: int, guild_id: int | None) -> None:
    """Drop a user's unapproved suggestions and their id from kept cards (one guild, or all)."""
    scope = "" if guild_id is None else " AND guild_id = ?"
    extra: tuple[int, ...] = () if guild_id is None else (guild_id,)
    await tx.execute(
        "DELETE FROM resource_cards WHERE suggested_by_user_id = ? "  # noqa: S608
        f"AND status != 'approved'{scope}",
        (user_id, *extra),
    )
    await tx.execute(
        "UPDATE resource_cards SET suggested_by_user_id = NULL "  # noqa: S608
        f"WHERE suggested_by_user_id = ?{scope}",
        (user_id, *extra),
    )
    await tx.execute(
        "UPDATE resource_cards SET approved_by_user_id = NULL "  # noqa: S608
        f"WHERE approved_by_user_id = ?{scope}",
        (user_id, *extra),
    )
