"""Discord's request validation and error shapes (400 code 50035 and friends)."""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]


class DiscordError(Exception):
    """An error answered to the client in Discord's JSON shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def invalid(path: str, code: str, message: str) -> DiscordError:
    """A 50035 Invalid Form Body error for one field (path like 'embeds.0.title')."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def _length(path: str, value: Any, maximum: int, minimum: int = 0) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid(path, "BASE_TYPE_STRING", "Value must be a string.")
    if not minimum <= len(value) <= maximum:
        raise invalid(
            path,
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {minimum} and {maximum} in length.",
        )


def validate_embeds(embeds: Any) -> list[JSON]:
    """Check limits as Discord does and return the embeds as Discord stores them."""
    if embeds is None:
        return []
    if not isinstance(embeds, list):
        raise invalid("embeds", "BASE_TYPE_LIST", "Must be a list.")
    if len(embeds) > 10:
        raise invalid("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    out = []
    for i, embed in enumerate(embeds):
        p = f"embeds.{i}"
        if not isinstance(embed, dict):
            raise invalid(p, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        _length(f"{p}.title", embed.get("title"), 256)
        _length(f"{p}.description", embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise invalid(f"{p}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, f in enumerate(fields):
            _length(f"{p}.fields.{j}.name", f.get("name"), 256, 1)
            _length(f"{p}.fields.{j}.value", f.get("value"), 1024, 1)
            if f.get("name") is None:
                raise invalid(
                    f"{p}.fields.{j}.name", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if f.get("value") is None:
                raise invalid(
                    f"{p}.fields.{j}.value", "BASE_TYPE_REQUIRED", "This field is required"
                )
        footer = embed.get("footer") or {}
        _length(f"{p}.footer.text", footer.get("text"), 2048)
        author = embed.get("author") or {}
        _length(f"{p}.author.name", author.get("name"), 256)
        for key in ("url",):
            url = embed.get(key)
            if url is not None and not re.match(r"^https?://", str(url)):
                raise invalid(f"{p}.{key}", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        total += sum(
            len(x or "")
            for x in (
                embed.get("title"),
                embed.get("description"),
                footer.get("text"),
                author.get("name"),
                *(f.get("name") for f in fields),
                *(f.get("value") for f in fields),
            )
        )
        stored = dict(embed)
        stored.setdefault("type", "rich")
        if "color" in stored and stored["color"] is None:
            del stored["color"]
        out.append(stored)
    if total > 6000:
        raise invalid(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    return out


BUTTON, STRING_SELECT, TEXT_INPUT = 2, 3, 4
SELECT_TYPES = {3, 5, 6, 7, 8}
V2_TYPES = {9, 10, 11, 12, 13, 14, 17}


def validate_components(components: Any, *, in_modal: bool = False) -> list[JSON]:
    """Check the component tree's structure (action rows of buttons or one select)."""
    if components is None:
        return []
    if not isinstance(components, list):
        raise invalid("components", "BASE_TYPE_LIST", "Must be a list.")
    limit = 5 if in_modal else 40
    if len(components) > limit:
        raise invalid("components", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    seen: set[str] = set()

    def check_leaf(path: str, comp: JSON) -> None:
        ctype = comp.get("type")
        cid = comp.get("custom_id")
        if cid is not None:
            _length(f"{path}.custom_id", cid, 100, 1)
            if cid in seen:
                raise invalid(
                    f"{path}.custom_id",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(cid)
        if ctype == BUTTON:
            style = comp.get("style")
            if style not in (1, 2, 3, 4, 5, 6):
                raise invalid(f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of 1..6.")
            if style == 5:
                if not comp.get("url") or cid is not None:
                    raise invalid(
                        path, "BUTTON_COMPONENT_URL_REQUIRED", "A link button needs a url only."
                    )
            elif style != 6 and cid is None:
                raise invalid(
                    f"{path}.custom_id",
                    "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                    "A custom id is required",
                )
            _length(f"{path}.label", comp.get("label"), 80)
        elif ctype in SELECT_TYPES:
            if cid is None:
                raise invalid(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
            opts = comp.get("options") or []
            if ctype == STRING_SELECT and not 1 <= len(opts) <= 25:
                raise invalid(
                    f"{path}.options",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 25 in length.",
                )
            for k, opt in enumerate(opts):
                _length(f"{path}.options.{k}.label", opt.get("label"), 100, 1)
                _length(f"{path}.options.{k}.value", opt.get("value"), 100, 1)
        elif ctype == TEXT_INPUT:
            if not in_modal:
                raise invalid(path, "COMPONENT_TYPE_INVALID", "Text inputs live only in modals.")
            if cid is None:
                raise invalid(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
            _length(f"{path}.value", comp.get("value"), 4000)
            _length(f"{path}.placeholder", comp.get("placeholder"), 100)
        elif ctype in V2_TYPES:
            for key in ("components",):
                for k, child in enumerate(comp.get(key) or []):
                    check_leaf(f"{path}.{key}.{k}", child)
            if "accessory" in comp:
                check_leaf(f"{path}.accessory", comp["accessory"])
        else:
            raise invalid(f"{path}.type", "BASE_TYPE_CHOICES", f"Value {ctype} is not valid here.")

    for i, row in enumerate(components):
        path = f"components.{i}"
        rtype = row.get("type") if isinstance(row, dict) else None
        if rtype == 1:
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                raise invalid(
                    f"{path}.components",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
            kinds = {c.get("type") for c in children}
            if kinds & SELECT_TYPES and len(children) > 1:
                raise invalid(
                    f"{path}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            if kinds & {TEXT_INPUT} and len(children) > 1:
                raise invalid(
                    f"{path}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            for j, child in enumerate(children):
                check_leaf(f"{path}.components.{j}", child)
        elif rtype == 18 and in_modal:  # label
            _length(f"{path}.label", row.get("label"), 45, 1)
            check_leaf(f"{path}.component", row.get("component") or {})
        elif rtype in V2_TYPES:
            check_leaf(path, row)
        else:
            raise invalid(
                f"{path}.type",
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
    return components


def validate_message_body(body: JSON, *, partial: bool = False) -> None:
    """content ≤ 2000, embeds, components; a new message must not be empty."""
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            raise invalid("content", "BASE_TYPE_STRING", "Value must be a string.")
        if len(content) > 2000:
            raise invalid("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    if "embeds" in body:  # absent means "leave as is" on edits
        body["embeds"] = validate_embeds(body.get("embeds"))
    if "components" in body:
        validate_components(body.get("components"))
    am = body.get("allowed_mentions")
    if am is not None:
        parse = am.get("parse", [])
        for item in parse:
            if item not in ("users", "roles", "everyone"):
                raise invalid(
                    "allowed_mentions.parse", "BASE_TYPE_CHOICES", f"{item} is not valid."
                )
        for key in ("users", "roles"):
            if am.get(key) and key in parse:
                raise invalid(
                    "allowed_mentions",
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{key}"] and {key}: [ids] are mutually exclusive.',
                )
    if not partial and not (
        content
        or body.get("embeds")
        or body.get("components")
        or body.get("poll")
        or body.get("_files")
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")


_CMD_NAME = re.compile(r"^[-_'\w]{1,32}$")

OPTION_TYPES = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}


# Discord's locales for command localisations (anything else is refused).
DISCORD_LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)


def _localizations(path: str, owner: JSON, field: str, limit: int) -> None:
    """Check a ``*_localizations`` map: known locales, each text within the field's limit."""
    found = owner.get(f"{field}_localizations")
    if found is None:
        return
    if not isinstance(found, dict):
        raise invalid(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    for locale, text in found.items():
        if locale not in DISCORD_LOCALES:
            raise invalid(f"{path}.{locale}", "LOCALE_INVALID", f"Invalid locale {locale!r}")
        _length(f"{path}.{locale}", text, limit, 1)


def validate_commands(commands: Any) -> None:
    """Check an application command bulk overwrite body as Discord does."""
    if not isinstance(commands, list):
        raise invalid("_root", "BASE_TYPE_LIST", "Must be a list.")
    if len(commands) > 100:
        raise invalid("_root", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name")
        if not isinstance(name, str) or not _CMD_NAME.match(name):
            raise invalid(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if ctype == 1:
            if name != name.lower():
                raise invalid(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Must be lowercase")
            _length(f"{i}.description", cmd.get("description"), 100, 1)
            _localizations(f"{i}.description_localizations", cmd, "description", 100)
        if (ctype, name) in seen:
            raise invalid(
                f"{i}.name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add((ctype, name))
        _validate_options(f"{i}.options", cmd.get("options") or [], depth=0)


def _validate_options(path: str, options: list[JSON], depth: int) -> None:
    if len(options) > 25:
        raise invalid(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        p = f"{path}.{i}"
        otype = opt.get("type")
        if otype not in OPTION_TYPES:
            raise invalid(f"{p}.type", "BASE_TYPE_CHOICES", "Invalid option type")
        name = opt.get("name")
        if not isinstance(name, str) or not _CMD_NAME.match(name) or name != name.lower():
            raise invalid(f"{p}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if name in names:
            raise invalid(
                f"{p}.name",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        _length(f"{p}.description", opt.get("description"), 100, 1)
        _localizations(f"{p}.description_localizations", opt, "description", 100)
        if otype in (1, 2):
            if depth >= (1 if otype == 2 else 2) or (otype == 2 and depth > 0):
                raise invalid(f"{p}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Nesting")
            _validate_options(f"{p}.options", opt.get("options") or [], depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                raise invalid(
                    p,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            raise invalid(f"{p}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        if choices and opt.get("autocomplete"):
            raise invalid(
                f"{p}.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES",
                "Autocomplete cannot be used with choices",
            )
        for k, ch in enumerate(choices):
            _length(f"{p}.choices.{k}.name", ch.get("name"), 100, 1)
            _localizations(f"{p}.choices.{k}.name_localizations", ch, "name", 100)
