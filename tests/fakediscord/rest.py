"""REST routes under /api/v10, with Discord's payloads, checks and gateway dispatches."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_MESSAGE,
    DEFERRED_UPDATE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    RESPONSE_DEADLINE,
    TOKEN_LIFETIME,
    UPDATE_MESSAGE,
    InteractionResult,
)
from .state import (
    GUILD_CHANNEL_TYPES,
    MESSAGEABLE_TYPES,
    THREAD_TYPES,
    Channel,
    ChannelType,
    Invite,
    Message,
    Overwrite,
    P,
    ScheduledEvent,
    StoredCommand,
    Webhook,
    iso,
    top_role_position,
)
from .validation import (
    DiscordError,
    invalid,
    missing_access,
    missing_permissions,
    validate_commands,
    validate_components,
    validate_message_body,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]


@dataclass
class Call:
    """One REST call as the server saw it."""

    method: str
    route: str  # the template, e.g. /channels/{channel_id}/messages
    path: str
    params: dict[str, str]
    json: Any
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    response: Any = None
    fault: str | None = None
    at: float = 0.0

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.path} -> {self.status}>"


Handler = Callable[["FakeDiscord", Call], Awaitable[Any]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False)
    auth: bool = True

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(f"^{pattern}$")


ROUTES: list[Route] = []


def route(method: str, template: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, template, fn, auth=auth))
        return fn

    return deco


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    # Literal segments (e.g. /users/@me) win over parameters, as on Discord.
    best: tuple[Route, dict[str, str]] | None = None
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m is None:
            continue
        if best is None or r.template.count("{") < best[0].template.count("{"):
            best = (r, m.groupdict())
    return best


def known_template(template: str) -> bool:
    return any(r.template == template for r in ROUTES)


def _sid(call: Call, key: str) -> int:
    try:
        return int(call.params[key])
    except ValueError:
        raise invalid(key, "NUMBER_TYPE_COERCE", "Value is not snowflake.") from None


def _body(call: Call) -> JSON:
    return call.json if isinstance(call.json, dict) else {}


# -- users, application, gateway ------------------------------------------------------------


@route("GET", "/users/@me")
async def get_me(server: FakeDiscord, call: Call) -> Any:
    return server.state.bot_user.me_payload()


@route("GET", "/users/{user_id}")
async def get_user(server: FakeDiscord, call: Call) -> Any:
    user = server.state.users.get(_sid(call, "user_id"))
    if user is None:
        raise DiscordError(404, 10013, "Unknown User")
    return user.payload()


@route("GET", "/oauth2/applications/@me")
async def get_application(server: FakeDiscord, call: Call) -> Any:
    return server.application_payload()


@route("GET", "/applications/@me")
async def get_application2(server: FakeDiscord, call: Call) -> Any:
    return server.application_payload()


@route("GET", "/gateway", auth=False)
async def get_gateway(server: FakeDiscord, call: Call) -> Any:
    return {"url": server.gateway_url.rstrip("/")}


@route("GET", "/gateway/bot")
async def get_gateway_bot(server: FakeDiscord, call: Call) -> Any:
    return {
        "url": server.gateway_url.rstrip("/"),
        "shards": server.shards,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 14400000,
            "max_concurrency": server.max_concurrency,
        },
    }


# -- application commands ---------------------------------------------------------------------


def _check_app(server: FakeDiscord, call: Call) -> None:
    if _sid(call, "application_id") != server.state.application_id:
        raise DiscordError(403, 50001, "Missing Access")


def _store_commands(server: FakeDiscord, guild_id: int | None, body: Any) -> list[JSON]:
    validate_commands(body)
    state = server.state
    old = state.commands_for(guild_id)
    old_ids = {(c.type, c.name): c.id for c in old}
    stored: list[StoredCommand] = []
    for cmd in body:
        ctype = int(cmd.get("type", 1))
        cid = old_ids.get((ctype, cmd["name"])) or server.new_id()
        perms = cmd.get("default_member_permissions")
        payload: JSON = {
            "id": str(cid),
            "application_id": str(state.application_id),
            "version": str(server.new_id()),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", "") if ctype == 1 else "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": str(perms) if perms is not None else None,
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types", [0]),
            "nsfw": cmd.get("nsfw", False),
        }
        if cmd.get("options"):
            payload["options"] = cmd["options"]
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        stored.append(StoredCommand(cid, guild_id, payload))
    state.set_commands(guild_id, stored)
    return [c.payload for c in stored]


@route("PUT", "/applications/{application_id}/commands")
async def bulk_global_commands(server: FakeDiscord, call: Call) -> Any:
    _check_app(server, call)
    return _store_commands(server, None, call.json)


@route("GET", "/applications/{application_id}/commands")
async def list_global_commands(server: FakeDiscord, call: Call) -> Any:
    _check_app(server, call)
    return [c.payload for c in server.state.commands_for(None)]


@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_guild_commands(server: FakeDiscord, call: Call) -> Any:
    _check_app(server, call)
    server.guild_or_404(_sid(call, "guild_id"))
    return _store_commands(server, _sid(call, "guild_id"), call.json)


@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_guild_commands(server: FakeDiscord, call: Call) -> Any:
    _check_app(server, call)
    server.guild_or_404(_sid(call, "guild_id"))
    return [c.payload for c in server.state.commands_for(_sid(call, "guild_id"))]


# -- interaction callback and follow-ups ------------------------------------------------------


@route("POST", "/interactions/{interaction_id}/{interaction_token}/callback", auth=False)
async def interaction_callback(server: FakeDiscord, call: Call) -> Any:
    result = server.interactions.get(_sid(call, "interaction_id"))
    if result is None or result.token != call.params["interaction_token"]:
        raise DiscordError(404, 10062, "Unknown interaction")
    try:
        return await _callback(server, result, _body(call))
    except DiscordError as exc:
        result.rejected.append((exc.status, exc.code))
        raise


async def _callback(server: FakeDiscord, result: InteractionResult, body: JSON) -> Any:
    if result.responded:
        raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
    if server.monotonic() - result.created > RESPONSE_DEADLINE:
        raise DiscordError(404, 10062, "Unknown interaction")
    ctype = body.get("type")
    data = body.get("data") or {}
    allowed = {
        APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_MESSAGE, MODAL},
        MESSAGE_COMPONENT: {
            CHANNEL_MESSAGE,
            DEFERRED_MESSAGE,
            DEFERRED_UPDATE,
            UPDATE_MESSAGE,
            MODAL,
        },
        AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
        MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
    }[result.kind]
    if ctype not in allowed:
        raise invalid("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Type {ctype} is invalid here")
    if ctype in (UPDATE_MESSAGE, DEFERRED_UPDATE) and result.source_message_id is None:
        raise invalid("type", "INTERACTION_RESPONSE_TYPE_INVALID", "No message to update")
    resource: JSON = {"type": ctype}
    with_resource = True
    if ctype == CHANNEL_MESSAGE:
        validate_message_body(data)
        msg = await server.interaction_message(result, data)
        result.original_id = msg.id
        resource["message"] = msg.payload()
    elif ctype == DEFERRED_MESSAGE:
        flags = int(data.get("flags") or 0) & Message.EPHEMERAL
        msg = await server.interaction_message(
            result, {"content": "", "flags": flags}, loading=True
        )
        result.original_id = msg.id
        resource["message"] = msg.payload()
    elif ctype == UPDATE_MESSAGE:
        validate_message_body(data, partial=True)
        assert result.source_message_id is not None
        msg = await server.edit_message(server.state.messages[result.source_message_id], data)
        result.original_id = msg.id
        resource["message"] = msg.payload()
    elif ctype == DEFERRED_UPDATE:
        result.original_id = result.source_message_id
    elif ctype == AUTOCOMPLETE_RESULT:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) > 25:
            raise invalid("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for i, ch in enumerate(choices):
            if not 1 <= len(str(ch.get("name", ""))) <= 100:
                raise invalid(f"data.choices.{i}.name", "BASE_TYPE_BAD_LENGTH", "1-100")
            if isinstance(ch.get("value"), str) and len(ch["value"]) > 100:
                raise invalid(f"data.choices.{i}.value", "BASE_TYPE_BAD_LENGTH", "≤100")
        result.choices = choices
        with_resource = False
    elif ctype == MODAL:
        if not data.get("custom_id") or len(str(data.get("title", ""))) not in range(1, 46):
            raise invalid("data", "MODAL_INVALID", "A modal needs a custom_id and a 1-45 title")
        comps = data.get("components") or []
        if not 1 <= len(comps) <= 5:
            raise invalid("data.components", "BASE_TYPE_BAD_LENGTH", "Must be 1 to 5 in length.")
        validate_components(comps, in_modal=True)
        result.modal = data
        with_resource = False
    result.callback_type = ctype
    result.callback_body = body
    result._responded.set()
    shown = result.message
    answer: JSON = {
        "interaction": {
            "id": str(result.id),
            "type": result.kind,
            "activity_instance_id": None,
            "response_message_id": (
                str(shown.id) if shown and ctype != AUTOCOMPLETE_RESULT else None
            ),
            "response_message_loading": ctype == DEFERRED_MESSAGE,
            "response_message_ephemeral": bool(shown and shown.ephemeral),
        }
    }
    if with_resource:
        answer["resource"] = resource
    return answer


def _interaction_for_token(server: FakeDiscord, call: Call) -> InteractionResult | None:
    if _sid(call, "webhook_id") != server.state.application_id:
        return None
    token = call.params["webhook_token"]
    result = next((r for r in server.interactions.values() if r.token == token), None)
    if result is None:
        raise DiscordError(404, 10015, "Unknown Webhook")
    if server.monotonic() - result.created > TOKEN_LIFETIME:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    return result


def _channel_webhook(server: FakeDiscord, call: Call) -> Webhook:
    hook = server.state.webhooks.get(_sid(call, "webhook_id"))
    if hook is None:
        raise DiscordError(404, 10015, "Unknown Webhook")
    if hook.token != call.params["webhook_token"]:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    return hook


@route("POST", "/webhooks/{webhook_id}/{webhook_token}", auth=False)
async def execute_webhook(server: FakeDiscord, call: Call) -> Any:
    body = _body(call)
    validate_message_body(body)
    result = _interaction_for_token(server, call)
    if result is not None:
        if not result.responded or result.callback_type in (AUTOCOMPLETE_RESULT, MODAL):
            raise DiscordError(404, 10015, "Unknown Webhook")
        original = result.message
        if result.callback_type == DEFERRED_MESSAGE and original is not None and original.loading:
            # After a deferred reply the first follow-up replaces the "thinking" message.
            body = dict(body)
            body["flags"] = (original.flags & Message.EPHEMERAL) | int(body.get("flags") or 0)
            return (await server.edit_message(original, body, finish_loading=True)).payload()
        msg = await server.interaction_message(result, body, followup=True)
        result.followup_ids.append(msg.id)
        return msg.payload()
    hook = _channel_webhook(server, call)
    channel = server.state.channels[hook.channel_id]
    if call.query.get("thread_id"):
        channel = server.channel_or_404(int(call.query["thread_id"]))
    author = {
        "id": str(hook.id),
        "username": body.get("username") or hook.name,
        "avatar": hook.avatar,
        "discriminator": "0000",
        "bot": True,
        "global_name": None,
    }
    if body.get("username") and re.search("clyde|discord", body["username"], re.I):
        raise invalid("username", "USERNAME_INVALID_CONTAINS", "Username cannot contain that")
    msg = await server.create_message(channel, author, body, webhook_id=hook.id)
    if call.query.get("wait") in ("true", "True", "1"):
        return msg.payload()
    return None


def _webhook_message(server: FakeDiscord, call: Call) -> tuple[Message, InteractionResult | None]:
    result = _interaction_for_token(server, call)
    mid = call.params["message_id"]
    if result is not None:
        if mid == "@original":
            msg = result.message
            if msg is None or result.callback_type in (AUTOCOMPLETE_RESULT, MODAL):
                raise DiscordError(404, 10008, "Unknown Message")
            return msg, result
        msg_id = int(mid)
        if msg_id not in result.followup_ids and msg_id != result.original_id:
            raise DiscordError(404, 10008, "Unknown Message")
        return server.state.messages[msg_id], result
    hook = _channel_webhook(server, call)
    msg = server.state.messages.get(int(mid)) if mid.isdigit() else None
    if msg is None or msg.webhook_id != hook.id or msg.deleted:
        raise DiscordError(404, 10008, "Unknown Message")
    return msg, None


@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def get_webhook_message(server: FakeDiscord, call: Call) -> Any:
    msg, _ = _webhook_message(server, call)
    if msg.deleted:
        raise DiscordError(404, 10008, "Unknown Message")
    return msg.payload()


@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def edit_webhook_message(server: FakeDiscord, call: Call) -> Any:
    msg, _ = _webhook_message(server, call)
    if msg.deleted:
        raise DiscordError(404, 10008, "Unknown Message")
    body = _body(call)
    validate_message_body(body, partial=True)
    return (await server.edit_message(msg, body, finish_loading=True)).payload()


@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def delete_webhook_message(server: FakeDiscord, call: Call) -> Any:
    msg, _ = _webhook_message(server, call)
    if msg.deleted:
        raise DiscordError(404, 10008, "Unknown Message")
    await server.delete_message(msg)
    return None


# -- messages ----------------------------------------------------------------------------------


def _messageable(server: FakeDiscord, call: Call, *, send: bool) -> Channel:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.type not in MESSAGEABLE_TYPES:
        raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
    if channel.guild_id is None:
        return channel
    perms = server.bot_permissions(channel)
    if not perms & P.VIEW_CHANNEL:
        raise missing_access()
    if send:
        need = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
        if not perms & need:
            raise missing_permissions()
        if channel.is_thread and channel.locked and not perms & P.MANAGE_THREADS:
            raise missing_permissions()
    return channel


@route("POST", "/channels/{channel_id}/messages")
async def create_message(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=True)
    body = _body(call)
    validate_message_body(body)
    if channel.type == ChannelType.DM:
        recipient = server.state.users[channel.recipient_ids[0]]
        shares_guild = any(recipient.id in g.members for g in server.bot_guilds())
        if recipient.dms_closed or recipient.bot or not shares_guild:
            # Closed DMs, bots, and people who share no server with the bot all look alike.
            raise DiscordError(403, 50007, "Cannot send messages to this user")
    nonce = body.get("nonce")
    if nonce is not None and body.get("enforce_nonce"):
        existing = server.state.nonce_index.get((channel.id, str(nonce)))
        if existing is not None:
            msg = server.state.messages[existing]
            window = server.now() - msg.created_at
            if not msg.deleted and window < timedelta(minutes=5):
                server.nonce_hits.append(msg)
                return msg.payload()
    msg = await server.create_message(channel, server.state.bot_user.payload(), body)
    return msg.payload()


def _message_or_404(server: FakeDiscord, call: Call, channel: Channel) -> Message:
    msg = server.state.messages.get(_sid(call, "message_id"))
    if msg is None or msg.deleted or msg.channel_id != channel.id or msg.ephemeral:
        raise DiscordError(404, 10008, "Unknown Message")
    return msg


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    if channel.guild_id and not server.bot_permissions(channel) & P.READ_MESSAGE_HISTORY:
        raise missing_permissions()
    return _message_or_404(server, call, channel).payload()


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    msg = _message_or_404(server, call, channel)
    body = _body(call)
    if msg.author_id != server.state.bot_user.id:
        if set(body) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if not server.bot_permissions(channel) & P.MANAGE_MESSAGES:
            raise missing_permissions()
    validate_message_body(body, partial=True)
    return (await server.edit_message(msg, body)).payload()


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    msg = _message_or_404(server, call, channel)
    if msg.author_id != server.state.bot_user.id and not (
        channel.guild_id and server.bot_permissions(channel) & P.MANAGE_MESSAGES
    ):
        raise missing_permissions()
    await server.delete_message(msg)
    return None


@route("POST", "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    if channel.guild_id is None or not server.bot_permissions(channel) & P.MANAGE_MESSAGES:
        raise missing_permissions()
    ids = _body(call).get("messages")
    if not isinstance(ids, list) or not 2 <= len(ids) <= 100:
        raise invalid("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
    if len(set(ids)) != len(ids):
        raise invalid("messages", "BASE_TYPE_DUPLICATES", "Duplicate ids.")
    msgs = []
    cutoff = server.now() - timedelta(days=14)
    for raw in ids:
        msg = server.state.messages.get(int(raw))
        if msg is None or msg.channel_id != channel.id or msg.deleted:
            continue
        if msg.created_at < cutoff:
            raise DiscordError(
                400, 50034, "You can only bulk delete messages that are under 14 days old."
            )
        msgs.append(msg)
    for msg in msgs:
        msg.deleted = True
    await server.dispatch(
        "MESSAGE_DELETE_BULK",
        {
            "ids": [str(m.id) for m in msgs],
            "channel_id": str(channel.id),
            "guild_id": str(channel.guild_id),
        },
    )
    return None


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    if channel.guild_id and not server.bot_permissions(channel) & P.READ_MESSAGE_HISTORY:
        return []
    limit = int(call.query.get("limit", 50))
    if not 1 <= limit <= 100:
        raise invalid("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100")
    msgs = [m for m in server.messages_in(channel)]
    if "before" in call.query:
        msgs = [m for m in msgs if m.id < int(call.query["before"])]
    if "after" in call.query:
        msgs = [m for m in msgs if m.id > int(call.query["after"])]
        msgs = msgs[:limit]
    if "around" in call.query:
        around = int(call.query["around"])
        older = [m for m in msgs if m.id <= around][-(limit // 2 + limit % 2) :]
        newer = [m for m in msgs if m.id > around][: limit // 2]
        msgs = older + newer
    msgs = sorted(msgs, key=lambda m: m.id, reverse=True)[:limit]
    return [m.payload() for m in msgs]


@route("POST", "/users/@me/channels")
async def create_dm(server: FakeDiscord, call: Call) -> Any:
    recipient = int(_body(call).get("recipient_id", 0))
    user = server.state.users.get(recipient)
    if user is None:
        raise DiscordError(404, 10013, "Unknown User")
    return server.dm_channel(user).payload(server.state.users)


# -- channels ----------------------------------------------------------------------------------


def _overwrites(server: FakeDiscord, guild_id: int, raw: Any, path: str) -> dict[int, Overwrite]:
    out: dict[int, Overwrite] = {}
    guild = server.state.guilds[guild_id]
    bot_perms = server.permissions_for(guild_id, None, server.state.bot_user.id)
    for i, ow in enumerate(raw or []):
        oid = int(ow["id"])
        otype = int(ow.get("type", 0))
        if otype == 0 and oid not in guild.roles:
            raise invalid(f"{path}.{i}.id", "UNKNOWN_ROLE", "Unknown role")
        if otype == 1 and oid not in server.state.users:
            raise invalid(f"{path}.{i}.id", "UNKNOWN_USER", "Unknown user")
        allow, deny = int(ow.get("allow", 0) or 0), int(ow.get("deny", 0) or 0)
        if not bot_perms & P.ADMINISTRATOR and (allow | deny) & ~bot_perms:
            raise missing_permissions()
        out[oid] = Overwrite(oid, otype, allow, deny)
    return out


def _channel_name(ctype: ChannelType, name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    name = name.strip()
    if ctype in (ChannelType.TEXT, ChannelType.NEWS, ChannelType.FORUM):
        name = re.sub(r"\s+", "-", name.lower())
    return name


@route("POST", "/guilds/{guild_id}/channels")
async def create_guild_channel(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    if not server.permissions_for(guild.id, None, server.state.bot_user.id) & P.MANAGE_CHANNELS:
        raise missing_permissions()
    body = _body(call)
    try:
        ctype = ChannelType(int(body.get("type", 0)))
    except ValueError:
        raise invalid("type", "BASE_TYPE_CHOICES", "Value must be one of channel types") from None
    if ctype not in GUILD_CHANNEL_TYPES:
        raise invalid("type", "BASE_TYPE_CHOICES", "Value must be one of guild channel types")
    parent_id = int(body["parent_id"]) if body.get("parent_id") else None
    if parent_id is not None:
        parent = server.state.channels.get(parent_id)
        if parent is None or parent.type != ChannelType.CATEGORY or parent.guild_id != guild.id:
            raise invalid("parent_id", "CHANNEL_PARENT_INVALID", "Not a category")
        if ctype == ChannelType.CATEGORY:
            raise invalid("parent_id", "CHANNEL_PARENT_INVALID", "Categories cannot nest")
    rate = int(body.get("rate_limit_per_user") or 0)
    if not 0 <= rate <= 21600:
        raise invalid("rate_limit_per_user", "NUMBER_TYPE_MAX", "Must be 0 to 21600")
    topic = body.get("topic")
    if topic is not None and len(topic) > 1024:
        raise invalid("topic", "BASE_TYPE_MAX_LENGTH", "Must be 1024 or fewer in length.")
    channel = server.add_channel(
        guild,
        _channel_name(ctype, body.get("name")),
        ctype,
        parent_id=parent_id,
        topic=topic,
        rate_limit_per_user=rate,
        nsfw=bool(body.get("nsfw")),
        bitrate=int(body.get("bitrate") or 64000),
        user_limit=int(body.get("user_limit") or 0),
        position=body.get("position"),
        overwrites=_overwrites(
            server, guild.id, body.get("permission_overwrites"), "permission_overwrites"
        ),
    )
    payload = channel.payload()
    await server.dispatch("CHANNEL_CREATE", payload)
    return payload


@route("GET", "/guilds/{guild_id}/channels")
async def list_guild_channels(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    return [
        server.state.channels[c].payload()
        for c in guild.channel_ids
        if not server.state.channels[c].is_thread
    ]


@route("GET", "/channels/{channel_id}")
async def get_channel(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id and not server.bot_permissions(channel) & P.VIEW_CHANNEL:
        raise missing_access()
    return channel.payload(server.state.users)


@route("PATCH", "/channels/{channel_id}")
async def edit_channel(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None:
        raise DiscordError(400, 50003, "Cannot execute action on a DM channel")
    perms = server.bot_permissions(channel)
    body = _body(call)
    if channel.is_thread:
        own = channel.owner_id == server.state.bot_user.id
        if not (perms & P.MANAGE_THREADS or (own and set(body) <= {"name", "archived"})):
            raise missing_permissions()
        for key in ("archived", "locked", "invitable"):
            if key in body:
                setattr(channel, key, bool(body[key]))
        if "name" in body:
            channel.name = _channel_name(channel.type, body["name"])
        if "rate_limit_per_user" in body:
            channel.rate_limit_per_user = int(body["rate_limit_per_user"] or 0)
        payload = channel.payload()
        await server.dispatch("THREAD_UPDATE", payload)
        return payload
    if not perms & P.MANAGE_CHANNELS:
        raise missing_permissions()
    if "permission_overwrites" in body and not perms & P.MANAGE_ROLES:
        raise missing_permissions()
    if "name" in body:
        channel.name = _channel_name(channel.type, body["name"])
    if "topic" in body:
        channel.topic = body["topic"]
    if "rate_limit_per_user" in body:
        rate = int(body["rate_limit_per_user"] or 0)
        if not 0 <= rate <= 21600:
            raise invalid("rate_limit_per_user", "NUMBER_TYPE_MAX", "Must be 0 to 21600")
        channel.rate_limit_per_user = rate
    if "nsfw" in body:
        channel.nsfw = bool(body["nsfw"])
    if "position" in body and body["position"] is not None:
        channel.position = int(body["position"])
    if "parent_id" in body:
        channel.parent_id = int(body["parent_id"]) if body["parent_id"] else None
    for key in ("bitrate", "user_limit"):
        if key in body and body[key] is not None:
            setattr(channel, key, int(body[key]))
    if "permission_overwrites" in body:
        assert channel.guild_id is not None
        channel.overwrites = _overwrites(
            server, channel.guild_id, body["permission_overwrites"], "permission_overwrites"
        )
    payload = channel.payload()
    await server.dispatch("CHANNEL_UPDATE", payload)
    return payload


@route("DELETE", "/channels/{channel_id}")
async def delete_channel(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None:
        return channel.payload(server.state.users)  # closing a DM
    perms = server.bot_permissions(channel)
    need = P.MANAGE_THREADS if channel.is_thread else P.MANAGE_CHANNELS
    if not perms & need:
        raise missing_permissions()
    payload = channel.payload()
    await server.remove_channel(channel)
    return payload


@route("PUT", "/channels/{channel_id}/permissions/{overwrite_id}")
async def put_overwrite(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None or channel.is_thread:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    if not server.bot_permissions(channel) & P.VIEW_CHANNEL:
        raise missing_access()
    if not server.bot_permissions(channel) & P.MANAGE_ROLES:
        raise missing_permissions()
    body = _body(call)
    raw = {**body, "id": call.params["overwrite_id"]}
    ows = _overwrites(server, channel.guild_id, [raw], "overwrite")
    channel.overwrites.update(ows)
    await server.dispatch("CHANNEL_UPDATE", channel.payload())
    return None


@route("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}")
async def delete_overwrite(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    if not server.bot_permissions(channel) & P.MANAGE_ROLES:
        raise missing_permissions()
    if channel.overwrites.pop(_sid(call, "overwrite_id"), None) is not None:
        await server.dispatch("CHANNEL_UPDATE", channel.payload())
    return None


# -- guilds, roles, members ----------------------------------------------------------------------


@route("GET", "/guilds/{guild_id}")
async def get_guild(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    data = server.guild_create_payload(guild)
    for key in ("channels", "members", "threads", "guild_scheduled_events", "voice_states"):
        data.pop(key, None)
    return data


@route("GET", "/guilds/{guild_id}/roles")
async def list_roles(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    return [r.payload() for r in guild.roles.values()]


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    member = guild.members.get(_sid(call, "user_id"))
    if member is None:
        raise DiscordError(404, 10007, "Unknown Member")
    return member.payload()


@route("GET", "/guilds/{guild_id}/members")
async def list_members(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    limit = int(call.query.get("limit", 1))
    after = int(call.query.get("after", 0))
    members = sorted(
        (m for m in guild.members.values() if m.user.id > after), key=lambda m: m.user.id
    )
    return [m.payload() for m in members[:limit]]


def _role_change(server: FakeDiscord, call: Call) -> tuple[Any, Any, int]:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    member = guild.members.get(_sid(call, "user_id"))
    if member is None:
        raise DiscordError(404, 10007, "Unknown Member")
    role_id = _sid(call, "role_id")
    role = guild.roles.get(role_id)
    if role is None:
        raise DiscordError(404, 10011, "Unknown Role")
    bot_id = server.state.bot_user.id
    perms = server.permissions_for(guild.id, None, bot_id)
    if not perms & P.MANAGE_ROLES:
        raise missing_permissions()
    if guild.owner_id != bot_id and role.position >= top_role_position(guild, bot_id):
        raise missing_permissions()
    if role.managed or role.id == guild.id:
        raise DiscordError(400, 50028, "Invalid Role")
    return guild, member, role_id


@route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(server: FakeDiscord, call: Call) -> Any:
    guild, member, role_id = _role_change(server, call)
    if role_id not in member.roles:
        member.roles.append(role_id)
        await server.dispatch(
            "GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **member.payload()}
        )
    return None


@route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(server: FakeDiscord, call: Call) -> Any:
    guild, member, role_id = _role_change(server, call)
    if role_id in member.roles:
        member.roles.remove(role_id)
        await server.dispatch(
            "GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **member.payload()}
        )
    return None


# -- scheduled events ---------------------------------------------------------------------------


def _parse_time(body: JSON, key: str) -> datetime | None:
    raw = body.get(key)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise invalid(key, "DATE_TIME_TYPE_PARSE", "Could not parse the date.") from None
    if when.tzinfo is None:
        raise invalid(key, "DATE_TIME_TYPE_PARSE", "The date needs a time zone.")
    return when


def _event_checks(server: FakeDiscord, ev: ScheduledEvent, guild_id: int) -> None:
    if ev.entity_type in (1, 2):
        ch = server.state.channels.get(ev.channel_id or 0)
        want = ChannelType.STAGE if ev.entity_type == 1 else ChannelType.VOICE
        if ch is None or ch.guild_id != guild_id or ch.type != want:
            raise invalid("channel_id", "GUILD_SCHEDULED_EVENT_CHANNEL_INVALID", "Bad channel")
    elif ev.entity_type == 3:
        if not ev.location or len(ev.location) > 100:
            raise invalid("entity_metadata.location", "BASE_TYPE_REQUIRED", "A location is needed")
        if ev.scheduled_end_time is None:
            raise invalid("scheduled_end_time", "BASE_TYPE_REQUIRED", "External events need an end")
    else:
        raise invalid("entity_type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3).")
    if ev.scheduled_end_time is not None and ev.scheduled_end_time <= ev.scheduled_start_time:
        raise invalid(
            "scheduled_end_time",
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "The end time must be after the start time.",
        )
    if not 1 <= len(ev.name) <= 100:
        raise invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    if ev.description is not None and len(ev.description) > 1000:
        raise invalid("description", "BASE_TYPE_MAX_LENGTH", "Must be 1000 or fewer in length.")


def _not_in_past(server: FakeDiscord, when: datetime) -> None:
    if when < server.now():
        raise invalid(
            "scheduled_start_time",
            "GUILD_SCHEDULED_EVENT_SCHEDULED_START_TIME_IN_PAST",
            "Cannot schedule event in the past.",
        )


def _events_perm(server: FakeDiscord, guild_id: int) -> None:
    perms = server.permissions_for(guild_id, None, server.state.bot_user.id)
    if not perms & (P.MANAGE_EVENTS | P.CREATE_EVENTS):
        raise missing_permissions()


@route("POST", "/guilds/{guild_id}/scheduled-events")
async def create_event(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    _events_perm(server, guild.id)
    body = _body(call)
    start = _parse_time(body, "scheduled_start_time")
    if start is None:
        raise invalid("scheduled_start_time", "BASE_TYPE_REQUIRED", "This field is required")
    _not_in_past(server, start)
    if body.get("privacy_level", 2) != 2:
        raise invalid("privacy_level", "BASE_TYPE_CHOICES", "Value must be one of (2,).")
    ev = ScheduledEvent(
        id=server.new_id(),
        guild_id=guild.id,
        name=str(body.get("name") or ""),
        scheduled_start_time=start,
        scheduled_end_time=_parse_time(body, "scheduled_end_time"),
        entity_type=int(body.get("entity_type") or 0),
        channel_id=int(body["channel_id"]) if body.get("channel_id") else None,
        description=body.get("description"),
        location=(body.get("entity_metadata") or {}).get("location"),
        creator_id=server.state.bot_user.id,
        recurrence_rule=body.get("recurrence_rule"),
    )
    _event_checks(server, ev, guild.id)
    server.state.events[ev.id] = ev
    guild.event_ids.append(ev.id)
    payload = ev.payload(server.state.users)
    await server.dispatch("GUILD_SCHEDULED_EVENT_CREATE", payload)
    return payload


def _event_or_404(server: FakeDiscord, call: Call) -> ScheduledEvent:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    ev = server.state.events.get(_sid(call, "event_id"))
    if ev is None or ev.deleted or ev.guild_id != guild.id:
        raise DiscordError(404, 10070, "Unknown Guild Scheduled Event")
    return ev


@route("GET", "/guilds/{guild_id}/scheduled-events")
async def list_events(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    evs = [server.state.events[e] for e in guild.event_ids]
    return [e.payload(server.state.users) for e in evs if not e.deleted]


@route("GET", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def get_event(server: FakeDiscord, call: Call) -> Any:
    return _event_or_404(server, call).payload(server.state.users)


@route("PATCH", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def edit_event(server: FakeDiscord, call: Call) -> Any:
    ev = _event_or_404(server, call)
    _events_perm(server, ev.guild_id)
    body = _body(call)
    if ev.status in (3, 4):
        raise DiscordError(400, 180000, "Cannot edit a finished or cancelled event")
    start = _parse_time(body, "scheduled_start_time")
    if start is not None and start != ev.scheduled_start_time:
        _not_in_past(server, start)
        ev.scheduled_start_time = start
    if "scheduled_end_time" in body:
        ev.scheduled_end_time = _parse_time(body, "scheduled_end_time")
    for key in ("name", "description", "recurrence_rule"):
        if key in body:
            setattr(ev, key, body[key])
    if "entity_type" in body:
        ev.entity_type = int(body["entity_type"])
    if "channel_id" in body:
        ev.channel_id = int(body["channel_id"]) if body["channel_id"] else None
    if "entity_metadata" in body:
        ev.location = (body["entity_metadata"] or {}).get("location")
    if "status" in body:
        new = int(body["status"])
        ok = {1: {2, 4}, 2: {3}}.get(ev.status, set())
        if new != ev.status and new not in ok:
            raise invalid("status", "GUILD_SCHEDULED_EVENT_INVALID_STATUS", "Bad status change")
        ev.status = new
    _event_checks(server, ev, ev.guild_id)
    payload = ev.payload(server.state.users)
    await server.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", payload)
    return payload


@route("DELETE", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def delete_event(server: FakeDiscord, call: Call) -> Any:
    ev = _event_or_404(server, call)
    _events_perm(server, ev.guild_id)
    ev.deleted = True
    await server.dispatch("GUILD_SCHEDULED_EVENT_DELETE", ev.payload(server.state.users))
    return None


# -- webhooks, threads, invites --------------------------------------------------------------------


@route("POST", "/channels/{channel_id}/webhooks")
async def create_webhook(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None or channel.type not in (
        ChannelType.TEXT,
        ChannelType.NEWS,
        ChannelType.VOICE,
        ChannelType.STAGE,
        ChannelType.FORUM,
    ):
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    if not server.bot_permissions(channel) & P.MANAGE_WEBHOOKS:
        raise missing_permissions()
    name = _body(call).get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        raise invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
    if re.search("clyde|discord", name, re.I):
        raise invalid("name", "USERNAME_INVALID_CONTAINS", "Username cannot contain that")
    hook = Webhook(
        server.new_id(), channel.id, channel.guild_id, name, creator_id=server.state.bot_user.id
    )
    server.state.webhooks[hook.id] = hook
    await server.dispatch(
        "WEBHOOKS_UPDATE", {"guild_id": str(channel.guild_id), "channel_id": str(channel.id)}
    )
    return hook.payload(server.state.users)


@route("GET", "/channels/{channel_id}/webhooks")
async def list_webhooks(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if not server.bot_permissions(channel) & P.MANAGE_WEBHOOKS:
        raise missing_permissions()
    return [
        h.payload(server.state.users)
        for h in server.state.webhooks.values()
        if h.channel_id == channel.id
    ]


async def _start_thread(
    server: FakeDiscord, parent: Channel, body: JSON, *, from_message: Message | None
) -> JSON:
    perms = server.bot_permissions(parent)
    if parent.type not in (ChannelType.TEXT, ChannelType.NEWS, ChannelType.FORUM):
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    ttype = ChannelType(int(body.get("type") or (11 if from_message else 12)))
    if ttype not in THREAD_TYPES:
        raise invalid("type", "BASE_TYPE_CHOICES", "Not a thread type")
    need = (
        P.CREATE_PRIVATE_THREADS if ttype == ChannelType.PRIVATE_THREAD else P.CREATE_PUBLIC_THREADS
    )
    if not perms & need or not perms & P.VIEW_CHANNEL:
        raise missing_permissions()
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    duration = int(body.get("auto_archive_duration") or 1440)
    if duration not in (60, 1440, 4320, 10080):
        raise invalid("auto_archive_duration", "BASE_TYPE_CHOICES", "60, 1440, 4320 or 10080")
    thread = server.add_channel(
        server.state.guilds[parent.guild_id or 0],
        name,
        ttype,
        parent_id=parent.id,
        thread_id=from_message.id if from_message else None,
        rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
    )
    thread.owner_id = server.state.bot_user.id
    thread.auto_archive_duration = duration
    thread.invitable = bool(body.get("invitable", True))
    thread.thread_member_ids.append(server.state.bot_user.id)
    if from_message is not None:
        from_message.thread_id = thread.id
    payload = thread.payload()
    await server.dispatch("THREAD_CREATE", {**payload, "newly_created": True})
    return payload


@route("POST", "/channels/{channel_id}/threads")
async def start_thread(server: FakeDiscord, call: Call) -> Any:
    parent = server.channel_or_404(_sid(call, "channel_id"))
    return await _start_thread(server, parent, _body(call), from_message=None)


@route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def start_thread_from_message(server: FakeDiscord, call: Call) -> Any:
    parent = server.channel_or_404(_sid(call, "channel_id"))
    msg = _message_or_404(server, call, parent)
    if msg.thread_id is not None:
        raise DiscordError(400, 160004, "A thread has already been created for this message")
    return await _start_thread(server, parent, _body(call), from_message=msg)


async def _add_thread_member(server: FakeDiscord, call: Call, user_id: int) -> Any:
    thread = server.channel_or_404(_sid(call, "channel_id"))
    if not thread.is_thread:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    guild = server.state.guilds[thread.guild_id or 0]
    if user_id not in guild.members:
        raise DiscordError(404, 10007, "Unknown Member")
    perms = server.bot_permissions(thread)
    if thread.archived or not perms & P.SEND_MESSAGES_IN_THREADS:
        raise missing_permissions()
    if user_id in thread.thread_member_ids:
        return None
    thread.thread_member_ids.append(user_id)
    await server.dispatch(
        "THREAD_MEMBERS_UPDATE",
        {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": len(thread.thread_member_ids),
            "added_members": [
                {
                    "id": str(thread.id),
                    "user_id": str(user_id),
                    "join_timestamp": iso(server.now()),
                    "flags": 0,
                    "member": guild.members[user_id].payload(),
                }
            ],
        },
    )
    return None


@route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(server: FakeDiscord, call: Call) -> Any:
    return await _add_thread_member(server, call, _sid(call, "user_id"))


@route("PUT", "/channels/{channel_id}/thread-members/@me")
async def join_thread(server: FakeDiscord, call: Call) -> Any:
    return await _add_thread_member(server, call, server.state.bot_user.id)


@route("POST", "/channels/{channel_id}/invites")
async def create_invite(server: FakeDiscord, call: Call) -> Any:
    channel = server.channel_or_404(_sid(call, "channel_id"))
    if channel.guild_id is None or channel.is_thread or channel.type == ChannelType.CATEGORY:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    if not server.bot_permissions(channel) & P.CREATE_INSTANT_INVITE:
        raise missing_permissions()
    body = _body(call)
    max_age = int(body.get("max_age", 86400))
    max_uses = int(body.get("max_uses", 0))
    if not 0 <= max_age <= 604800:
        raise invalid("max_age", "NUMBER_TYPE_MAX", "Must be 0 to 604800")
    if not 0 <= max_uses <= 100:
        raise invalid("max_uses", "NUMBER_TYPE_MAX", "Must be 0 to 100")
    invite = Invite(
        code=secrets.token_urlsafe(6).replace("-", "a").replace("_", "b")[:8],
        guild_id=channel.guild_id,
        channel_id=channel.id,
        inviter_id=server.state.bot_user.id,
        created_at=server.now(),
        max_age=max_age,
        max_uses=max_uses,
        temporary=bool(body.get("temporary")),
    )
    server.state.invites[invite.code] = invite
    payload = server.invite_payload(invite)
    await server.dispatch(
        "INVITE_CREATE",
        {
            "channel_id": str(channel.id),
            "guild_id": str(channel.guild_id),
            "code": invite.code,
            "created_at": payload["created_at"],
            "inviter": payload["inviter"],
            "max_age": max_age,
            "max_uses": max_uses,
            "temporary": invite.temporary,
            "uses": 0,
        },
    )
    return payload


# -- members, roles, pins, typing ------------------------------------------------------------------


def _member_or_404(server: FakeDiscord, call: Call) -> tuple[Any, Any]:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    member = guild.members.get(_sid(call, "user_id"))
    if member is None:
        raise DiscordError(404, 10007, "Unknown Member")
    return guild, member


def _above(server: FakeDiscord, guild: Any, user_id: int) -> None:
    """The bot can only act on members whose top role is below its own (owners never)."""
    bot_id = server.state.bot_user.id
    if user_id == guild.owner_id or (
        user_id != bot_id and top_role_position(guild, user_id) >= top_role_position(guild, bot_id)
    ):
        raise missing_permissions()


@route("PATCH", "/guilds/{guild_id}/members/{user_id}")
async def edit_member(server: FakeDiscord, call: Call) -> Any:
    guild, member = _member_or_404(server, call)
    body = _body(call)
    perms = server.permissions_for(guild.id, None, server.state.bot_user.id)
    uid = member.user.id
    voice_change = "channel_id" in body
    if "nick" in body:
        if not perms & P.MANAGE_NICKNAMES:
            raise missing_permissions()
        _above(server, guild, uid)
        member.nick = body["nick"] or None
    if "roles" in body:
        if not perms & P.MANAGE_ROLES:
            raise missing_permissions()
        wanted = [int(r) for r in body["roles"] or []]
        top = top_role_position(guild, server.state.bot_user.id)
        for rid in set(wanted) ^ set(member.roles):
            role = guild.roles.get(rid)
            if role is None:
                raise invalid("roles", "UNKNOWN_ROLE", "Unknown role")
            if role.position >= top or role.managed:
                raise missing_permissions()
        member.roles = wanted
    for key, perm in (("mute", P.MUTE_MEMBERS), ("deaf", 1 << 23)):
        if key in body:
            if not perms & perm:
                raise missing_permissions()
            if uid not in guild.voice_states:
                raise DiscordError(400, 40032, "Target user is not connected to voice.")
            setattr(member, key, bool(body[key]))
    if "communication_disabled_until" in body:
        if not perms & P.MODERATE_MEMBERS:
            raise missing_permissions()
        _above(server, guild, uid)
        until = _parse_time(body, "communication_disabled_until")
        member.timed_out_until = until
    if voice_change:
        if uid not in guild.voice_states:
            raise DiscordError(400, 40032, "Target user is not connected to voice.")
        target = body["channel_id"]
        if target is None:
            if not perms & P.MOVE_MEMBERS:
                raise missing_permissions()
        else:
            channel = server.channel_or_404(int(target))
            if channel.type not in (ChannelType.VOICE, ChannelType.STAGE):
                raise invalid("channel_id", "CHANNEL_TYPE_INVALID", "Not a voice channel")
            if not server.bot_permissions(channel) & P.MOVE_MEMBERS:
                raise missing_permissions()
    await server.dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild.id), **member.payload()})
    if voice_change:
        target = body["channel_id"]
        await server.set_voice(guild, uid, int(target) if target else None)
    return member.payload()


@route("DELETE", "/guilds/{guild_id}/members/{user_id}")
async def kick_member(server: FakeDiscord, call: Call) -> Any:
    guild, member = _member_or_404(server, call)
    if not server.permissions_for(guild.id, None, server.state.bot_user.id) & P.KICK_MEMBERS:
        raise missing_permissions()
    _above(server, guild, member.user.id)
    await server.remove_member(guild, member)
    return None


@route("POST", "/guilds/{guild_id}/roles")
async def create_role_route(server: FakeDiscord, call: Call) -> Any:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    perms = server.permissions_for(guild.id, None, server.state.bot_user.id)
    if not perms & P.MANAGE_ROLES:
        raise missing_permissions()
    body = _body(call)
    wanted = int(body.get("permissions") or 0)
    if wanted & ~perms and not perms & P.ADMINISTRATOR:
        raise missing_permissions()
    name = body.get("name") or "new role"
    if len(name) > 100:
        raise invalid("name", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    role = server.create_role(
        guild,
        name,
        permissions=wanted,
        mentionable=bool(body.get("mentionable")),
        color=int(body.get("color") or 0),
    )
    await server.flush()
    return role.payload()


def _role_or_404(server: FakeDiscord, call: Call) -> tuple[Any, Any]:
    guild = server.guild_or_404(_sid(call, "guild_id"))
    role = guild.roles.get(_sid(call, "role_id"))
    if role is None:
        raise DiscordError(404, 10011, "Unknown Role")
    perms = server.permissions_for(guild.id, None, server.state.bot_user.id)
    if not perms & P.MANAGE_ROLES:
        raise missing_permissions()
    if role.position >= top_role_position(guild, server.state.bot_user.id) or role.managed:
        raise missing_permissions()
    return guild, role


@route("PATCH", "/guilds/{guild_id}/roles/{role_id}")
async def edit_role(server: FakeDiscord, call: Call) -> Any:
    guild, role = _role_or_404(server, call)
    body = _body(call)
    if "name" in body:
        role.name = body["name"]
    if "permissions" in body:
        role.permissions = int(body["permissions"] or 0)
    for key in ("mentionable", "hoist"):
        if key in body:
            setattr(role, key, bool(body[key]))
    if "color" in body:
        role.color = int(body["color"] or 0)
    await server.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.payload()})
    return role.payload()


@route("DELETE", "/guilds/{guild_id}/roles/{role_id}")
async def delete_role_route(server: FakeDiscord, call: Call) -> Any:
    _, role = _role_or_404(server, call)
    await server.delete_role(role)
    return None


def _pin_target(server: FakeDiscord, call: Call) -> Message:
    channel = _messageable(server, call, send=False)
    if channel.guild_id and not server.bot_permissions(channel) & P.MANAGE_MESSAGES:
        raise missing_permissions()
    return _message_or_404(server, call, channel)


@route("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
async def pin_message(server: FakeDiscord, call: Call) -> Any:
    msg = _pin_target(server, call)
    if not msg.pinned:
        msg.pinned = True
        await server.dispatch("MESSAGE_UPDATE", msg.payload())
    return None


@route("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
async def unpin_message(server: FakeDiscord, call: Call) -> Any:
    msg = _pin_target(server, call)
    if msg.pinned:
        msg.pinned = False
        await server.dispatch("MESSAGE_UPDATE", msg.payload())
    return None


@route("GET", "/channels/{channel_id}/messages/pins")
async def list_pins(server: FakeDiscord, call: Call) -> Any:
    channel = _messageable(server, call, send=False)
    pinned = [m for m in server.messages_in(channel) if m.pinned]
    items = [{"pinned_at": iso(m.created_at), "message": m.payload()} for m in reversed(pinned)]
    return {"items": items, "has_more": False}


@route("POST", "/channels/{channel_id}/typing")
async def trigger_typing(server: FakeDiscord, call: Call) -> Any:
    _messageable(server, call, send=True)
    return None
