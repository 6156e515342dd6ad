"""Keeps passwords out of everything the suite prints or stores."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z0-9+]+://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<tail>@)", re.I)
_PASSWORD_KV = re.compile(r"(?P<head>password\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_text(url)


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Removes URL passwords, password=... pairs and any known secret from free text."""
    text = _PASSWORD_IN_URL.sub(r"\g<head>***\g<tail>", text)
    text = _PASSWORD_KV.sub(r"\g<head>***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
