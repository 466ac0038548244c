"""FakeDiscord's test-side driving: act as a user with slash commands, clicks and modals."""

from __future__ import annotations

import secrets
from typing import Any

from .core import JSON, ServerCore
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionResult,
    InvocationError,
    build_options,
    find_command,
    nest_options,
)
from .state import (
    Channel,
    Guild,
    Member,
    Message,
    P,
    StoredCommand,
    User,
    guild_id_of,
    target_id_of,
    user_id_of,
)


class Driving(ServerCore):
    """Acting as a user: slash commands, autocomplete, clicks and modal submits."""

    # -- driving interactions --------------------------------------------------------------------

    def _interaction_base(
        self,
        kind: int,
        guild: Guild | None,
        user: User,
        channel: Channel,
        data: JSON,
        description: str,
        age: float,
        locale: str | None,
    ) -> InteractionResult:
        """An interaction payload; ``locale`` overrides the user's client language for this call."""
        iid = self.new_id()
        token = f"aW50ZXJhY3Rpb246{iid}:{secrets.token_urlsafe(24)}"
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.state.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "token": token,
            "version": 1,
            "locale": locale or user.locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self.permissions_for(channel.guild_id, channel.id, None)),
        }
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise InvocationError(f"{user.username} is not a member of {guild.name}")
            if not self.permissions_for(guild.id, channel.id, user.id) & P.VIEW_CHANNEL:
                raise InvocationError(f"{user.username} cannot see #{channel.name}")
            mdata = member.payload()
            mdata["permissions"] = str(self.permissions_for(guild.id, channel.id, user.id))
            cdata = channel.payload()
            cdata["permissions"] = mdata["permissions"]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=mdata,
                channel=cdata,
                context=0,
            )
        else:
            payload.update(
                user=user.payload(), channel=channel.payload(self.state.users), context=1
            )
        result = InteractionResult(
            server=self,
            id=iid,
            token=token,
            kind=kind,
            user=user,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            payload=payload,
            description=description,
            created=self.monotonic() - age,
        )
        self.interactions[iid] = result
        return result

    def _resolve_context(
        self, guild: Guild | int | None, user: User | Member, channel: Channel | None
    ) -> tuple[Guild | None, User, Channel]:
        g = self.state.guilds[guild_id_of(guild)] if guild is not None else None
        u = self.state.users[user_id_of(user)]
        if channel is None:
            channel = self.general(g) if g is not None else self.dm_channel(u)
        return g, u, channel

    async def invoke(
        self,
        guild: Guild | int | None,
        user: User | Member,
        command: str,
        /,
        *,
        _channel: Channel | None = None,
        _age: float = 0.0,
        _locale: str | None = None,
        _wait: bool = True,
        _override_permissions: bool = False,
        **options: Any,
    ) -> InteractionResult:
        """Run a slash command as a user would: `await server.invoke(g, u, "setup roles", x=1)`.

        Looks the command up in what the bot synced (guild, then global), validates options
        as Discord's client does (raising InvocationError), sends INTERACTION_CREATE and, by
        default, waits for the bot's response (AssertionError "did not respond" otherwise).
        """
        g, u, channel = self._resolve_context(guild, user, _channel)
        cmd, leaf, subs = self._command(g, command)
        self._check_command_permissions(g, u, channel, cmd, _override_permissions)
        opts, resolved = build_options(self, g.id if g else None, leaf, options)
        data: JSON = {
            "id": str(cmd.id),
            "name": cmd.name,
            "type": 1,
            "options": nest_options(subs, opts, cmd),
        }
        if resolved:
            data["resolved"] = resolved
        if cmd.guild_id is not None:
            data["guild_id"] = str(cmd.guild_id)
        result = self._interaction_base(
            APPLICATION_COMMAND, g, u, channel, data, f"/{command}", _age, _locale
        )
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result

    async def autocomplete(
        self,
        guild: Guild | int | None,
        user: User | Member,
        command: str,
        /,
        *,
        focused: str,
        _channel: Channel | None = None,
        _locale: str | None = None,
        **options: Any,
    ) -> list[JSON]:
        """Ask the bot for autocomplete choices for option `focused`; returns the choices."""
        g, u, channel = self._resolve_context(guild, user, _channel)
        cmd, leaf, subs = self._command(g, command)
        spec = next((o for o in leaf if o["name"] == focused), None)
        if spec is None or not spec.get("autocomplete"):
            raise InvocationError(f"option {focused!r} of /{command} has no autocomplete")
        opts, _ = build_options(self, g.id if g else None, leaf, options, focused=focused)
        data: JSON = {
            "id": str(cmd.id),
            "name": cmd.name,
            "type": 1,
            "options": nest_options(subs, opts, cmd),
        }
        if cmd.guild_id is not None:
            data["guild_id"] = str(cmd.guild_id)
        result = self._interaction_base(
            AUTOCOMPLETE, g, u, channel, data, f"autocomplete of /{command} {focused}", 0.0, _locale
        )
        await self.dispatch("INTERACTION_CREATE", result.payload)
        await result.wait()
        return result.choices or []

    def _command(
        self, guild: Guild | None, path: str
    ) -> tuple[StoredCommand, list[JSON], list[str]]:
        commands = (self.state.commands_for(guild.id) if guild else []) + self.state.commands_for(
            None
        )
        return find_command(commands, path)

    async def click(
        self,
        message: Message | InteractionResult | int,
        custom_id: str,
        user: User | Member,
        *,
        values: list[Any] | None = None,
        _age: float = 0.0,
        _wait: bool = True,
        _locale: str | None = None,
    ) -> InteractionResult:
        """Click a button (by custom_id or label), or pick select `values`, as `user`."""
        msg = self._message_of(message)
        if msg.deleted:
            raise InvocationError("the message was deleted")
        comp = msg.find_component(custom_id)
        if comp is None or "custom_id" not in comp:
            raise InvocationError(
                f"no component {custom_id!r} on the message: {msg.custom_ids()} {msg.labels()}"
            )
        custom_id = comp["custom_id"]
        if comp.get("disabled"):
            raise InvocationError(f"component {custom_id!r} is disabled")
        u = self.state.users[user_id_of(user)]
        if msg.ephemeral and msg.interaction_user_id != u.id:
            raise InvocationError("only the person an ephemeral message was for can see it")
        guild = self.state.guilds.get(msg.guild_id or 0)
        channel = self.state.channels[msg.channel_id]
        data: JSON = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] in (3, 5, 6, 7, 8):
            data["values"], resolved = self._select_values(comp, values or [], guild)
            if resolved:
                data["resolved"] = resolved
        elif values:
            raise InvocationError("values are only for select menus")
        result = self._interaction_base(
            MESSAGE_COMPONENT, guild, u, channel, data, f"click on {custom_id!r}", _age, _locale
        )
        result.payload["message"] = msg.payload()
        result.source_message_id = msg.id
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result

    def _select_values(
        self, comp: JSON, values: list[Any], guild: Guild | None
    ) -> tuple[list[str], JSON]:
        lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
        if not lo <= len(values) <= hi:
            raise InvocationError(f"select {comp['custom_id']!r} takes {lo}..{hi} values")
        if comp["type"] == 3:
            allowed = [o["value"] for o in comp.get("options", [])]
            for v in values:
                if v not in allowed:
                    raise InvocationError(f"{v!r} is not an option of the select: {allowed}")
            return [str(v) for v in values], {}
        resolved: JSON = {}
        out = []
        for v in values:
            sid = target_id_of(v)
            out.append(str(sid))
            if sid in self.state.users:
                resolved.setdefault("users", {})[str(sid)] = self.state.users[sid].payload()
                if guild and sid in guild.members:
                    resolved.setdefault("members", {})[str(sid)] = guild.members[sid].payload(
                        with_user=False
                    )
            elif guild and sid in guild.roles:
                resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
            elif sid in self.state.channels:
                ch = self.state.channels[sid]
                resolved.setdefault("channels", {})[str(sid)] = {
                    "id": str(sid),
                    "name": ch.name,
                    "type": int(ch.type),
                    "permissions": "0",
                }
        return out, resolved

    def _message_of(self, message: Message | InteractionResult | int) -> Message:
        if isinstance(message, InteractionResult):
            if message.message is None:
                raise InvocationError(f"{message.description} has no response message")
            return message.message
        if isinstance(message, Message):
            return self.state.messages[message.id]
        return self.state.messages[int(message)]

    async def submit_modal(
        self,
        target: InteractionResult | str,
        user: User | Member | None,
        values: dict[str, Any],
        *,
        _age: float = 0.0,
        _wait: bool = True,
        _locale: str | None = None,
    ) -> InteractionResult:
        """Fill in and submit the modal the bot opened (values by field custom_id)."""
        if isinstance(target, str):
            origin = next(
                (
                    r
                    for r in reversed(self.interactions.values())
                    if r.modal and r.modal.get("custom_id") == target
                ),
                None,
            )
            if origin is None:
                raise InvocationError(f"the bot never opened a modal {target!r}")
        else:
            origin = target
        if origin.modal is None:
            raise InvocationError(f"{origin.description} did not open a modal")
        u = self.state.users[user_id_of(user)] if user is not None else origin.user
        fields: dict[str, JSON] = {}

        def fill(comp: JSON) -> JSON:
            ctype = comp["type"]
            if ctype == 1:
                return {"type": 1, "components": [fill(c) for c in comp["components"]]}
            if ctype == 18:
                return {"type": 18, "id": comp.get("id", 0), "component": fill(comp["component"])}
            cid = comp.get("custom_id")
            if cid is None:
                return {"type": ctype, "id": comp.get("id", 0)}
            fields[cid] = comp
            value = values.get(cid)
            if ctype == 4:
                text = "" if value is None else str(value)
                if comp.get("required", True) and not text:
                    raise InvocationError(f"modal field {cid!r} is required")
                if text and len(text) < comp.get("min_length", 0):
                    raise InvocationError(f"modal field {cid!r} needs ≥ {comp['min_length']} chars")
                if len(text) > comp.get("max_length", 4000):
                    raise InvocationError(
                        f"modal field {cid!r} allows ≤ {comp['max_length']} chars"
                    )
                return {"type": 4, "id": comp.get("id", 0), "custom_id": cid, "value": text}
            picked = list(value or [])
            return {"type": ctype, "id": comp.get("id", 0), "custom_id": cid, "values": picked}

        components = [fill(c) for c in origin.modal.get("components", [])]
        unknown = set(values) - set(fields)
        if unknown:
            raise InvocationError(
                f"the modal has no fields {sorted(unknown)}; it has {sorted(fields)}"
            )
        guild = self.state.guilds.get(origin.guild_id or 0)
        channel = self.state.channels[origin.channel_id]
        data = {"custom_id": origin.modal["custom_id"], "components": components}
        result = self._interaction_base(
            MODAL_SUBMIT, guild, u, channel, data, f"modal {data['custom_id']!r}", _age, _locale
        )
        if origin.source_message_id is not None:
            result.source_message_id = origin.source_message_id
            result.payload["message"] = self.state.messages[origin.source_message_id].payload()
        await self.dispatch("INTERACTION_CREATE", result.payload)
        if _wait:
            await result.wait()
        return result
