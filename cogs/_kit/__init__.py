"""Shared glue for every cog: checks, formatting, options and UI components.

``from cogs._kit import X`` reaches everything; the modules say where each thing lives:
``checks`` (who may do what), ``format`` (safe text, embeds, timestamps), ``options`` (meeting and
time-zone options), ``ui`` (PersistentButton, ConfirmView, Pager).
"""

from cogs._kit.checks import (
    bot_of,
    caller_level,
    command_level,
    ensure_level,
    ensure_meeting_manager,
    requires,
    room_admits,
    services_of,
)
from cogs._kit.format import (
    COLOR,
    COLOR_ALERT,
    COLOR_WARN,
    EMBED_DESCRIPTION,
    EMBED_FIELD_NAME,
    EMBED_FIELD_VALUE,
    EMBED_FIELDS,
    EMBED_FOOTER,
    EMBED_TITLE,
    EMBED_TOTAL,
    escape,
    fit_embed,
    modlog_embed,
    safe_title,
    truncate,
    ts,
    ts_pair,
)
from cogs._kit.options import (
    MeetingArg,
    MeetingOption,
    meeting_autocomplete,
    resolve_meeting,
    timezone_autocomplete,
)
from cogs._kit.ui import (
    DAY,
    ID,
    Choice,
    ConfirmView,
    ExpiringView,
    Field,
    Pager,
    PersistentButton,
)

__all__ = [
    "DAY",
    "ID",
    "Field",
    "COLOR",
    "COLOR_ALERT",
    "COLOR_WARN",
    "EMBED_DESCRIPTION",
    "EMBED_FIELDS",
    "EMBED_FIELD_NAME",
    "EMBED_FIELD_VALUE",
    "EMBED_FOOTER",
    "EMBED_TITLE",
    "EMBED_TOTAL",
    "Choice",
    "ConfirmView",
    "ExpiringView",
    "MeetingArg",
    "MeetingOption",
    "Pager",
    "PersistentButton",
    "bot_of",
    "caller_level",
    "command_level",
    "ensure_level",
    "ensure_meeting_manager",
    "escape",
    "fit_embed",
    "meeting_autocomplete",
    "modlog_embed",
    "requires",
    "resolve_meeting",
    "room_admits",
    "safe_title",
    "services_of",
    "timezone_autocomplete",
    "truncate",
    "ts",
    "ts_pair",
]
