"""The e-mail channel: SMTP (stdlib ``smtplib`` in a worker thread), STARTTLS or implicit TLS
and login optional; a text part, an optional HTML alternative, and attachments."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from intperf.monitor.notification import Notification
from intperf.monitor.notifiers_http import DeliveryError

__all__ = ["EmailNotifier", "build_message"]


def build_message(n: Notification, sender: str, to: Sequence[str]) -> EmailMessage:
    """The MIME message of ``n``: text, the HTML alternative if any, then the attachments."""
    msg = EmailMessage()
    msg["Subject"] = n.subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["X-Intperf-Kind"] = n.kind
    msg.set_content(n.text or n.subject)
    if n.html:
        msg.add_alternative(n.html, subtype="html")
    for a in n.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=a.filename)
    return msg


class EmailNotifier:
    """Sends each notification as one e-mail to ``to``."""

    def __init__(self, name: str, *, host: str, port: int, sender: str, to: Sequence[str],
                 username: str | None = None, password: str | None = None,
                 starttls: bool = False, use_ssl: bool = False, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.to = tuple(to)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._ssl = use_ssl
        self._timeout = timeout
        self._context = ssl_context

    def __repr__(self) -> str:  # no password, ever
        return f"EmailNotifier({self.name!r}, {self.host}:{self.port})"

    async def deliver(self, n: Notification) -> None:
        """Send one message; raises DeliveryError (SMTP code or error type only)."""
        msg = build_message(n, self.sender, self.to)
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        context = self._context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self._ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout,
                                        context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            with smtp:
                if self._starttls and not self._ssl:
                    smtp.starttls(context=context)
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(msg, self.sender, list(self.to))
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP authentication refused ({exc.smtp_code})",
                                retriable=False) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP recipients refused", retriable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx: transient (RFC 5321 section 4.2.1), 5xx: permanent
            raise DeliveryError(f"SMTP {exc.smtp_code}",
                                retriable=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:  # connect, disconnect, timeout, TLS
            raise DeliveryError(type(exc).__name__, retriable=True) from None
