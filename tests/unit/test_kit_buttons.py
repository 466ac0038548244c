"""Persistent buttons: custom ids stay byte-identical (posted buttons must keep working)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.models.onboarding import RoleKind
from cogs._kit import PersistentButton
from cogs.attendance import CheckInButton, SilenceButton
from cogs.modline import LineActionButton
from cogs.onboarding.views import DecisionButton, RoleButton
from cogs.reminders import RemindMeButton, StopRemindersButton
from cogs.resources.views import ApproveButton, RejectButton

# The custom ids of buttons already posted in servers, as the code before the kit wrote them.
CASES: list[tuple[type[PersistentButton], tuple[Any, ...], str, str]] = [
    (CheckInButton, (12, "2027-01-05"), "haven:checkin:12:2027-01-05", "Check in"),
    (SilenceButton, (12, "2027-01-05", 7), "haven:silence:12:2027-01-05:7", "Silence this peer"),
    (LineActionButton, ("block", 99), "haven:modline:block:99", "Block this person"),
    (LineActionButton, ("close", 99), "haven:modline:close:99", "Close conversation"),
    (RoleButton, (RoleKind.FAMILY,), "haven:onboard:role:family", None),
    (DecisionButton, (True, 5), "haven:onboard:req:approve:5", "Approve"),
    (DecisionButton, (False, 5), "haven:onboard:req:decline:5", "Decline"),
    (RemindMeButton, (3,), "haven:remind:me:3", "Remind me by DM"),
    (StopRemindersButton, (1, 3), "haven:remind:stop:1:3", "Stop these reminders"),
    (ApproveButton, ("g-4", 2), "haven:res:approve:g-4:2", "Approve"),
    (RejectButton, ("g-4", 2), "haven:res:reject:g-4:2", "Reject"),
]


@pytest.mark.parametrize(("cls", "values", "custom_id", "label"), CASES)
async def test_custom_id_and_rebuild(
    cls: type[PersistentButton], values: tuple[Any, ...], custom_id: str, label: str | None
) -> None:
    button = cls(*values)
    assert button.custom_id == custom_id
    if label is not None:
        assert button.item.label == label
    match = cls.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None
    rebuilt = await cls.from_custom_id(None, button.item, match)  # type: ignore[arg-type]
    assert rebuilt.custom_id == custom_id
    assert [getattr(rebuilt, name) for name in cls.fields] == list(values)


def test_a_template_refuses_other_ids() -> None:
    template = CheckInButton.__discord_ui_compiled_template__
    assert isinstance(template, re.Pattern)
    for wrong in ("haven:checkin:12", "haven:checkin:x:2027-01-05", "haven:silence:1:2027-01-05:1"):
        assert template.fullmatch(wrong) is None
