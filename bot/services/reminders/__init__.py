"""Reminders: materialise, deliver once, roll forward, and react to meeting changes. No Discord.

Three parts: :mod:`.service` (subscriptions, reconcile, following meeting changes),
:mod:`.planning` (which reminder jobs a meeting needs, pure) and :mod:`.delivery` (the job
handlers, the ledger, pacing and the :class:`ReminderSender` port the glue installs).
"""

from bot.models.reminders import (
    SENT,
    Delivery,
    Message,
    Notice,
    NoticeMessage,
    Outcome,
    ReminderMessage,
    SendResult,
    Subscription,
)
from bot.services.reminders.delivery import (
    BACKOFF,
    CANCEL_NOTICE_OFFSET,
    CHANNEL,
    MAX_SEND_ATTEMPTS,
    SEND_RETRY,
    Pacer,
    ReminderDelivery,
    ReminderSender,
    nonce_for,
)
from bot.services.reminders.planning import (
    NOTICE,
    REMINDER,
    offsets_for,
    plan,
    plan_rows,
    plan_schedule,
)
from bot.services.reminders.service import (
    LEDGER_KEEP,
    MAX_SUBSCRIPTIONS,
    ReminderService,
)

__all__ = [
    "BACKOFF",
    "CANCEL_NOTICE_OFFSET",
    "CHANNEL",
    "LEDGER_KEEP",
    "MAX_SEND_ATTEMPTS",
    "MAX_SUBSCRIPTIONS",
    "NOTICE",
    "REMINDER",
    "SEND_RETRY",
    "SENT",
    "Delivery",
    "Message",
    "Notice",
    "NoticeMessage",
    "Outcome",
    "Pacer",
    "ReminderDelivery",
    "ReminderMessage",
    "ReminderSender",
    "ReminderService",
    "SendResult",
    "Subscription",
    "nonce_for",
    "offsets_for",
    "plan",
    "plan_rows",
    "plan_schedule",
]
