"""A fleet: 3 Haven processes x 2 shards on one PostgreSQL, one SIGKILLed mid-burst and restarted.

The fake Discord (6 shards) runs in the test process; each Haven process is
``tests/e2e/fleet_child.py`` (``python -m bot`` with an injected clock) with ``SHARD_COUNT=6`` and
its own ``SHARD_IDS``. 60 guilds, 10 on each shard by Discord's formula; 1,000 channel reminders
and every guild's room opening fall due in the same second of the clock the processes share. The
test kills one process after ~300 reminders reached the server, restarts it at once, and drives
``/meeting list`` at guilds of every shard throughout. Counted at the server:

- every reminder posted once (one message per meeting; no nonce POSTed twice, except by the killed
  process and then its replacement, which Discord's nonce makes one message), and the ledger
  says so;
- every guild's room opened once (one opening card; the ledger row);
- no interaction answered twice (callbacks per interaction id), and every interaction sent to a
  live shard answered.

Timings (printed, and kept as test properties): fleet start, kill -> restarted process created,
connected, engine started -> its first send, burst duration against the N/50 s floor of the
shared global limit. Asserted: the first resend comes within 1 s of the restart (the shard lock
hands over at once; a lease would wait its 30 s). The fake's rate window
is sped up 5 times (RATE requests in any second, which the processes share as they share Discord's
50) so the test stays under a minute; the floor is N / RATE.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import to_unix
from tests.e2e.fleet import Child, Fleet, build_guilds, prepare_fleet, shard_of_channel
from tests.fakediscord import FakeDiscord
from tests.support.postgres import PostgresServer

SHARDS = 6
PROCESSES = ((0, 1), (2, 3), (4, 5))
VICTIM = 1  # the process killed mid-burst
GUILDS_PER_SHARD = 10
REMINDERS = 1000
KILL_AFTER = 300  # reminders counted at the server
# Discord's global limit (50 requests in any second) sped up 5 times, in the fake and in the
# processes' shared budget alike (both count over one second, so bursts within it agree).
RATE = 5 * 50
IDENTIFY_WINDOW = 0.2  # seconds: one IDENTIFY per bucket per window, scaled from Discord's 5 s
COMMAND_EVERY = 50  # a round of /meeting list (one per shard) every this many deliveries
START = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
FIRE = START - timedelta(minutes=15)  # reminders 15 minutes before; rooms open 15 before too
LEAD_S = 15.0  # wall seconds from the first spawn to FIRE: the fleet is up before the burst
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
MESSAGES = "/channels/{channel_id}/messages"


@dataclass
class Sent:
    """One slash command the test sent: to which shard, when, and whether it was answered."""

    interaction_id: int
    shard: int
    at: float
    answered: bool


@pytest.fixture
async def fleet_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh migrated database on the throwaway PostgreSQL (skips when there is none)."""
    name = await postgres_server.fresh_database()
    try:
        yield postgres_server.url(name)
    finally:
        await postgres_server.drop_database(name)


async def _jobs_done(url: str) -> bool:
    """Whether the burst's reminder and room-open jobs are all completed (none stored)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        left = await conn.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE kind IN ('reminder', 'room_open') AND fire_at <= $1",
            to_unix(FIRE),
        )
        return int(left) == 0
    finally:
        await conn.close()


async def _recorded(url: str, guild_ids: list[int]) -> int:
    """Reminder deliveries written to the ledger for these guilds."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM reminder_deliveries WHERE guild_id = ANY($1::bigint[])",
                guild_ids,
            )
        )
    finally:
        await conn.close()


async def _ledgers(url: str) -> tuple[Counter[str], int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        deliveries = Counter(
            {
                r["status"]: r["n"]
                for r in await conn.fetch(
                    "SELECT status, COUNT(*) AS n FROM reminder_deliveries GROUP BY status"
                )
            }
        )
        opened = await conn.fetchval(
            "SELECT COUNT(*) FROM room_occurrences WHERE opened_at IS NOT NULL"
        )
        return deliveries, int(opened)
    finally:
        await conn.close()


def _is_card(message: Any) -> bool:
    return bool(message.embeds) and any("haven:checkin:" in c for c in message.custom_ids())


async def test_three_processes_six_shards_sigkill_mid_burst_each_once(
    discord_server: FakeDiscord,
    fleet_url: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    began = time.monotonic()
    server = discord_server
    server.shards = SHARDS
    server.max_concurrency = SHARDS  # every shard its own identify bucket...
    server.gateway.identify_window = IDENTIFY_WINDOW  # ...each enforced as Discord does
    guilds = build_guilds(server, SHARDS, GUILDS_PER_SHARD)
    await prepare_fleet(fleet_url, guilds, REMINDERS, START, rooms=True)
    timings: dict[str, float] = {"prepare_s": time.monotonic() - began}
    by_shard = {s: [g for g in guilds if g.shard == s] for s in range(SHARDS)}
    announce = {g.announcements.id: g for g in guilds}
    rooms = {g.room_text.id: g for g in guilds}
    victim_shards = set(PROCESSES[VICTIM])

    def delivered() -> int:
        return sum(len(server.state.channel_messages.get(cid, ())) for cid in announce)

    def rooms_opened() -> int:
        return sum(
            any(
                _is_card(server.state.messages[m]) for m in server.state.channel_messages.get(c, ())
            )
            for c in rooms
        )

    # The processes share one clock: it reads FIRE LEAD_S wall seconds from now.
    fire_wall = time.time() + LEAD_S
    fire_mono = time.monotonic() + LEAD_S
    fleet = Fleet(
        server,
        fleet_url,
        shift=(FIRE - datetime.fromtimestamp(fire_wall, UTC)).total_seconds(),
        tmp=tmp_path,
        shard_count=SHARDS,
        groups=PROCESSES,
        # Discord's per-bot limits, sped up as the fake's are.
        limits={
            "IDENTIFY_WINDOW_S": repr(IDENTIFY_WINDOW),
            "REST_RATE_PER_SECOND": str(RATE),
        },
    )
    sent: list[Sent] = []
    down: set[int] = set()  # shards whose process is dead now

    async def command_round() -> None:
        """`/meeting list` at one guild of every live shard, at once; record who answered."""

        async def one(shard: int) -> None:
            g = by_shard[shard][len(sent) % GUILDS_PER_SHARD]
            at = server.monotonic()
            result = await server.invoke(g.guild, g.owner, "meeting list", _wait=False)
            try:
                await result.wait(timeout=5)
                answered = True
            except AssertionError:
                answered = False
            sent.append(Sent(result.id, shard, at, answered))

        await asyncio.gather(*(one(s) for s in range(SHARDS) if s not in down))

    killed_at = done_at = spawned_at = 0.0
    victim_pid = 0
    restarted: Child | None = None
    try:
        spawned_at = time.monotonic()
        for index in range(len(PROCESSES)):
            await fleet.spawn(index, sync=index == 0)
        await server.wait_for(
            lambda: len(fleet.ready_at()) == len(PROCESSES) or fleet.exited(),
            timeout=LEAD_S + 20,
            message=f"the fleet did not start: see {fleet.log}",
        )
        assert not fleet.exited(), f"a process exited at start: see {fleet.log}"
        server.global_limit_per_second = RATE  # over the default 1 s window
        await command_round()  # every shard answers before the burst

        # The burst: drive commands as it goes, kill the victim after KILL_AFTER deliveries.
        rounds = 1
        while delivered() < KILL_AFTER:
            await server.wait_for(
                lambda r=rounds: (
                    delivered() >= min(KILL_AFTER, r * COMMAND_EVERY) or fleet.exited()
                ),
                timeout=LEAD_S + 30,
                message=f"the burst stalled at {delivered()}: see {fleet.log}",
            )
            assert not fleet.exited(), f"a process exited: see {fleet.log}"
            if delivered() < KILL_AFTER:
                await command_round()
                rounds += 1
        victim = fleet.children[VICTIM]
        victim_pid = victim.proc.pid
        victim.proc.send_signal(signal.SIGKILL)
        killed_at = server.monotonic()
        down |= victim_shards
        await victim.proc.wait()
        timings["delivered_at_kill"] = delivered()
        restarted = await fleet.spawn(VICTIM)
        # What the killed process had posted but not yet written to the ledger: resent later.
        victim_posted = sum(
            len(server.state.channel_messages.get(g.announcements.id, ()))
            for g in guilds
            if g.shard in victim_shards
        )
        victim_guild_ids = [g.guild.id for g in guilds if g.shard in victim_shards]
        timings["victim_unrecorded_at_kill"] = victim_posted - await _recorded(
            fleet_url, victim_guild_ids
        )
        # Meanwhile the other shards keep answering.
        await command_round()
        await server.wait_for(
            lambda: fleet.ready(restarted) is not None or restarted.proc.returncode is not None,
            timeout=30,
            message=f"the restarted process did not start: see {fleet.log}",
        )
        assert restarted.proc.returncode is None, f"the restart exited: see {fleet.log}"
        down.clear()
        while delivered() < REMINDERS or rooms_opened() < len(guilds):
            rounds += 1
            await server.wait_for(
                lambda r=rounds: (
                    delivered() >= min(REMINDERS, r * COMMAND_EVERY)
                    and (delivered() < REMINDERS or rooms_opened() == len(guilds))
                    or bool(fleet.exited())
                ),
                timeout=30,
                message=f"{delivered()} reminders, {rooms_opened()} rooms: see {fleet.log}",
            )
            assert not fleet.exited(), f"a process exited: see {fleet.log}"
            await command_round()
        done_at = server.monotonic()
        await server.wait_for(
            lambda: _jobs_done(fleet_url),
            timeout=10,
            message="the burst's jobs were delivered but not completed",
        )
        await command_round()  # every shard answers after the restart
    finally:
        await fleet.stop_all()

    # What the server saw: reminder POSTs per (channel, nonce), callbacks per interaction.
    by_nonce: dict[tuple[int, str], list[float]] = {}
    for c in server.find_calls("POST", MESSAGES, status=200):
        if int(c.params["channel_id"]) in announce:
            key = (int(c.params["channel_id"]), str(c.json["nonce"]))
            by_nonce.setdefault(key, []).append(c.at)
    callbacks = Counter(
        int(c.params["interaction_id"])
        for c in server.find_calls("POST", CALLBACK)
        if c.status != 429
    )
    phases = fleet.phases()
    first = [phases[c.proc.pid] for c in fleet.children.values() if c is not restarted]
    first.append(phases[victim_pid])
    again = phases.get(restarted.proc.pid, {}) if restarted is not None else {}
    nan = float("nan")
    # The replacement cannot send before create_bot returned: a victim-shard POST that the
    # server reads between the kill and then was written by the killed process before it died.
    restart_from = again.get("created", nan)
    resends = [
        c.at
        for c in server.find_calls("POST", MESSAGES, status=200)
        if c.at >= restart_from
        and shard_of_channel(guilds, int(c.params["channel_id"])) in victim_shards
    ]
    fleet_ready = max(p.get("jobs", nan) for p in first)
    burst_from = max(fire_mono, fleet_ready)
    spent = [c for c in server.calls if burst_from <= c.at <= done_at and 200 <= c.status < 300]
    timings.update(
        fleet_created_s=max(p["created"] for p in first) - spawned_at,
        fleet_connected_s=max(p.get("connected", nan) for p in first) - spawned_at,
        fleet_ready_s=fleet_ready - spawned_at,
        ready_before_due_s=fire_mono - fleet_ready,
        kill_to_created_s=restart_from - killed_at,
        kill_to_connected_s=again.get("connected", nan) - killed_at,
        kill_to_ready_s=again.get("jobs", nan) - killed_at,
        kill_to_first_resend_s=min(resends, default=nan) - killed_at,
        burst_s=done_at - burst_from,
        floor_reminders_s=REMINDERS / RATE,
        floor_all_calls_s=len(spent) / RATE,
        calls_in_burst=len(spent),
        resent_across_kill=sum(len(ats) > 1 for ats in by_nonce.values()),
        commands=len(sent),
        global_429s=len(server.find_calls(status=429)),
        identify_rejections=server.gateway.identify_rejections,
        test_s=time.monotonic() - began,
    )
    for name, value in timings.items():
        record_property(name, round(value, 3))
    print("fleet timings: " + ", ".join(f"{k}={v:.3f}" for k, v in timings.items()))

    # Reminders: one message per meeting, and the ledger agrees. A nonce POSTed twice only by
    # the killed process and then its replacement (Discord's nonce makes that one message).
    titles = Counter(m.embeds[0]["title"] for cid in announce for m in server.messages_in(cid))
    assert len(titles) == REMINDERS and set(titles.values()) == {1}, titles.most_common(3)
    assert len(by_nonce) == REMINDERS

    def resent_by_replacement(channel_id: int, ats: list[float]) -> bool:
        shard = shard_of_channel(guilds, channel_id)
        return shard in victim_shards and len(ats) == 2 and min(ats) < restart_from <= max(ats)

    doubled = {
        k: [round(at - killed_at, 3) for at in ats]
        for k, ats in by_nonce.items()
        if len(ats) > 1 and not resent_by_replacement(k[0], ats)
    }
    assert not doubled, f"sent twice by live processes (s after the kill): {doubled}"
    deliveries, opened = await _ledgers(fleet_url)
    assert deliveries == Counter({"delivered": REMINDERS}), deliveries

    # Rooms: one opening card in each guild's room, one ledger row each.
    cards = Counter(m.channel_id for cid in rooms for m in server.messages_in(cid) if _is_card(m))
    assert cards == Counter(dict.fromkeys(rooms, 1)), cards
    assert opened == len(guilds)

    # Interactions: none answered twice; every one sent to a shard that stayed up answered.
    assert max(callbacks.values()) == 1, [i for i, n in callbacks.items() if n > 1]
    assert all(not server.interactions[s.interaction_id].rejected for s in sent)
    ready_again = again.get("jobs", nan)
    must = [
        s
        for s in sent
        if s.shard not in victim_shards or s.at + 3 < killed_at or s.at >= ready_again
    ]
    assert {s.shard for s in must} == set(range(SHARDS))
    assert all(s.answered for s in must), [s for s in must if not s.answered]
    assert server.gateway.identify_rejections == 0

    # Takeover is the shard lock, not a lease timeout: the first resend follows the restart.
    assert timings["kill_to_first_resend_s"] <= timings["kill_to_ready_s"] + 1.0, timings
