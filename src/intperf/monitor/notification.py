"""What a notifier delivers: one message, rendered for people and for machines.

Shared by the alert manager (alert groups) and the daily report (reports/daily.py); each
channel (JSON webhook, Slack-compatible webhook, e-mail, log) takes what it can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (e-mail attaches it; webhooks only name it)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to the channels.

    ``subject`` is one line; ``text`` is plain text (Slack's ``text``, the e-mail's text
    part, the log line); ``html`` an optional e-mail HTML part; ``payload`` the JSON object a
    generic webhook receives (``kind`` says what it is: ``alert-group``, ``daily-report``).
    """

    kind: str
    subject: str
    text: str
    severity: Severity = "info"
    html: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
