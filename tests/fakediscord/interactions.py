"""Interactions as a Discord client sends them, and what the application answered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .state import Channel, Member, Message, Role, StoredCommand, User

if TYPE_CHECKING:
    from collections.abc import Generator

    from .server import FakeDiscord

JSON = dict[str, Any]

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
KIND_NAMES = {
    APPLICATION_COMMAND: "command",
    MESSAGE_COMPONENT: "component",
    AUTOCOMPLETE: "autocomplete",
    MODAL_SUBMIT: "modal submit",
}

# Interaction callback types.
CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

RESPONSE_DEADLINE = 3.0
TOKEN_LIFETIME = 15 * 60.0


class InvocationError(Exception):
    """The test asked for something a Discord client would not let a user do."""


@dataclass(eq=False)
class InteractionResult:
    """One interaction sent to the bot and everything it answered.

    `await result` waits until the bot has responded (and, after a deferral, until the
    "thinking" message was replaced), or fails the test with "The application did not respond".
    """

    server: FakeDiscord
    id: int
    token: str
    kind: int
    user: User
    guild_id: int | None
    channel_id: int
    payload: JSON
    description: str
    created: float = field(default_factory=time.monotonic)
    callback_type: int | None = None
    callback_body: JSON | None = None
    original_id: int | None = None  # the response message (or the component's message)
    source_message_id: int | None = None  # for components/modals from a message
    followup_ids: list[int] = field(default_factory=list)
    modal: JSON | None = None
    choices: list[JSON] | None = None
    rejected: list[tuple[int, int]] = field(default_factory=list)  # (status, code) answered
    _responded: asyncio.Event = field(default_factory=asyncio.Event)

    # -- waiting -------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, InteractionResult]:
        return self.wait().__await__()

    async def wait(self, timeout: float | None = None) -> InteractionResult:  # noqa: ASYNC109
        timeout = self.server.response_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self._responded.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"The application did not respond to {self.description} within {timeout:.1f}s "
                f"(no interaction callback; rejected callbacks: {self.rejected})"
            ) from None
        if self.callback_type == DEFERRED_MESSAGE:
            ok = await self.server.wait_for(
                lambda: self.message is not None and not self.message.loading,
                timeout=timeout,
                raise_on_timeout=False,
            )
            if not ok:
                raise AssertionError(
                    f"The application deferred {self.description} but never followed up "
                    f"within {timeout:.1f}s (the user would see it 'thinking' forever)"
                )
        return self

    async def wait_followups(
        self,
        count: int = 1,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[Message]:
        """Wait until at least `count` follow-up messages were sent; return them all."""
        await self.wait(timeout)
        ok = await self.server.wait_for(
            lambda: len(self.followup_ids) >= count, timeout=timeout, raise_on_timeout=False
        )
        if not ok:
            raise AssertionError(
                f"expected {count} follow-up(s) to {self.description}, got {len(self.followup_ids)}"
            )
        return self.followups

    # -- what the user sees --------------------------------------------------------------

    @property
    def responded(self) -> bool:
        return self._responded.is_set()

    @property
    def type(self) -> int | None:
        """The interaction callback type (4 message, 5 deferred, 6, 7 update, 8, 9 modal)."""
        return self.callback_type

    @property
    def deferred(self) -> bool:
        return self.callback_type in (DEFERRED_MESSAGE, DEFERRED_UPDATE)

    @property
    def message(self) -> Message | None:
        """The response message (for 6/7: the component's message as it is now)."""
        if self.original_id is None:
            return None
        return self.server.state.messages.get(self.original_id)

    @property
    def content(self) -> str:
        msg = self.message
        return msg.content if msg else ""

    @property
    def embeds(self) -> list[JSON]:
        msg = self.message
        return msg.embeds if msg else []

    @property
    def components(self) -> list[JSON]:
        msg = self.message
        return msg.components if msg else []

    @property
    def flags(self) -> int:
        msg = self.message
        return msg.flags if msg else 0

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & Message.EPHEMERAL)

    @property
    def text(self) -> str:
        """Content and embed text of the response, for assertions."""
        msg = self.message
        return msg.text if msg else ""

    @property
    def followups(self) -> list[Message]:
        return [self.server.state.messages[i] for i in self.followup_ids]

    @property
    def all_text(self) -> str:
        """The response and every follow-up, joined."""
        return "\n".join([self.text, *(m.text for m in self.followups)]).strip()

    def custom_ids(self) -> list[str]:
        msg = self.message
        return msg.custom_ids() if msg else []

    @property
    def expired(self) -> bool:
        return self.server.monotonic() - self.created > RESPONSE_DEADLINE

    def __repr__(self) -> str:
        return (
            f"<InteractionResult {self.description} type={self.callback_type} "
            f"ephemeral={self.ephemeral} content={self.content!r}>"
        )


# -- building application command interactions from the synced schema ----------------------


def find_command(
    commands: list[StoredCommand], path: str
) -> tuple[StoredCommand, list[JSON], list[str]]:
    """Resolve "meeting schedule" into (command, leaf options schema, [sub names])."""
    parts = path.split()
    if not parts:
        raise InvocationError("empty command name")
    cmd = next((c for c in commands if c.type == 1 and c.name == parts[0]), None)
    if cmd is None:
        names = sorted(c.name for c in commands if c.type == 1)
        raise InvocationError(f"/{parts[0]} is not a synced command here (synced: {names})")
    options = cmd.payload.get("options") or []
    subs: list[str] = []
    for part in parts[1:]:
        sub = next((o for o in options if o["name"] == part and o["type"] in (1, 2)), None)
        if sub is None:
            avail = [o["name"] for o in options if o["type"] in (1, 2)]
            raise InvocationError(
                f"/{' '.join([parts[0], *subs])} has no subcommand {part!r}: {avail}"
            )
        subs.append(part)
        options = sub.get("options") or []
    if any(o["type"] in (1, 2) for o in options):
        avail = [o["name"] for o in options if o["type"] in (1, 2)]
        raise InvocationError(f"/{path} needs a subcommand: {avail}")
    return cmd, options, subs


def _snowflake_of(value: Any) -> int:
    if isinstance(value, User | Role | Channel):
        return value.id
    if isinstance(value, Member):
        return value.user.id
    if hasattr(value, "id"):
        return int(value.id)
    return int(value)


def build_options(
    server: FakeDiscord,
    guild_id: int | None,
    schema: list[JSON],
    values: dict[str, Any],
    *,
    focused: str | None = None,
) -> tuple[list[JSON], JSON]:
    """Options and `resolved` data as a Discord client sends them; validates like Discord."""
    by_name = {o["name"]: o for o in schema}
    for name in values:
        if name not in by_name:
            raise InvocationError(f"unknown option {name!r}; the command has {sorted(by_name)}")
    if focused is not None and focused not in by_name:
        raise InvocationError(f"focused option {focused!r} is not an option of this command")
    out: list[JSON] = []
    resolved: JSON = {}
    for opt in schema:
        name = opt["name"]
        if name not in values:
            if focused == name:
                values = {**values, name: ""}
            elif opt.get("required") and focused is None:
                raise InvocationError(f"required option {name!r} is missing")
            else:
                continue
        value = values[name]
        if focused is not None:
            # Autocomplete sends what was typed so far, as typed.
            entry: JSON = {"name": name, "type": opt["type"], "value": value}
            if opt["type"] in (6, 7, 8, 9):
                entry["value"] = str(_snowflake_of(value))
            if name == focused:
                entry["focused"] = True
                entry["value"] = str(value)
            out.append(entry)
            continue
        out.append(
            {
                "name": name,
                "type": opt["type"],
                "value": _convert(server, guild_id, opt, value, resolved),
            }
        )
    return out, resolved


def _convert(
    server: FakeDiscord, guild_id: int | None, opt: JSON, value: Any, resolved: JSON
) -> Any:
    name, otype = opt["name"], opt["type"]
    if otype == 3:
        if not isinstance(value, str):
            raise InvocationError(f"option {name!r} takes text, got {value!r}")
        if "min_length" in opt and len(value) < opt["min_length"]:
            raise InvocationError(f"option {name!r} must be at least {opt['min_length']} long")
        if "max_length" in opt and len(value) > opt["max_length"]:
            raise InvocationError(f"option {name!r} must be at most {opt['max_length']} long")
        _check_choice(opt, value)
        return value
    if otype in (4, 10):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvocationError(f"option {name!r} takes a number, got {value!r}")
        if otype == 4 and not float(value).is_integer():
            raise InvocationError(f"option {name!r} takes a whole number, got {value!r}")
        if otype == 4:
            value = int(value)
            if not -(2**53) < value < 2**53:
                raise InvocationError(f"option {name!r} is out of range")
        if opt.get("min_value") is not None and value < opt["min_value"]:
            raise InvocationError(f"option {name!r} must be ≥ {opt['min_value']}, got {value}")
        if opt.get("max_value") is not None and value > opt["max_value"]:
            raise InvocationError(f"option {name!r} must be ≤ {opt['max_value']}, got {value}")
        _check_choice(opt, value)
        return value
    if otype == 5:
        if not isinstance(value, bool):
            raise InvocationError(f"option {name!r} takes True or False, got {value!r}")
        return value
    if otype in (6, 7, 8, 9):
        return _resolve(server, guild_id, opt, value, resolved)
    raise InvocationError(f"option {name!r} has type {otype}, which the fake cannot send")


def _check_choice(opt: JSON, value: Any) -> None:
    choices = opt.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise InvocationError(
            f"{value!r} is not a choice of option {opt['name']!r}: {[c['value'] for c in choices]}"
        )


def _resolve(
    server: FakeDiscord, guild_id: int | None, opt: JSON, value: Any, resolved: JSON
) -> str:
    state = server.state
    name, otype = opt["name"], opt["type"]
    sid = _snowflake_of(value)
    guild = state.guilds.get(guild_id) if guild_id else None
    if otype in (6, 9) and sid in state.users:
        user = state.users[sid]
        resolved.setdefault("users", {})[str(sid)] = user.payload()
        if guild is not None and sid in guild.members:
            member = guild.members[sid].payload(with_user=False)
            member["permissions"] = str(server.permissions_for(guild.id, None, sid))
            resolved.setdefault("members", {})[str(sid)] = member
        return str(sid)
    if otype in (8, 9) and guild is not None and sid in guild.roles:
        resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
        return str(sid)
    if otype == 7 and sid in state.channels:
        ch = state.channels[sid]
        allowed = opt.get("channel_types")
        if allowed and int(ch.type) not in allowed:
            raise InvocationError(f"option {name!r} takes channel types {allowed}, got {ch.type!r}")
        if ch.guild_id != guild_id:
            raise InvocationError(f"channel {ch.name!r} is not in this guild")
        data = {
            "id": str(ch.id),
            "name": ch.name,
            "type": int(ch.type),
            "permissions": str(server.permissions_for(ch.guild_id, ch.id, None)),
            "parent_id": str(ch.parent_id) if ch.parent_id else None,
        }
        if ch.is_thread:
            data["thread_metadata"] = ch.payload()["thread_metadata"]
        resolved.setdefault("channels", {})[str(sid)] = data
        return str(sid)
    kinds = {6: "user", 7: "channel", 8: "role", 9: "user or role"}
    raise InvocationError(
        f"option {name!r} takes a {kinds[otype]} known to the server, got {value!r}"
    )


def nest_options(subs: list[str], leaf: list[JSON], cmd: StoredCommand) -> list[JSON]:
    """Wrap leaf options into subcommand (group) options."""
    options = leaf
    schema = cmd.payload.get("options") or []
    types = []
    for sub in subs:
        entry = next(o for o in schema if o["name"] == sub)
        types.append(entry["type"])
        schema = entry.get("options") or []
    for sub, otype in reversed(list(zip(subs, types, strict=True))):
        options = [{"name": sub, "type": otype, "options": options}]
    return options
