"""Errors a user can cause: they end in one clear line and exit code 2, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the message names what is valid."""


class ServerGone(Exception):
    """The PostgreSQL server stopped answering in the middle of a scenario."""


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """`TypeName: first line of the message`, for a status detail or a console note."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if getattr(exc, "sqlstate", None) == "57014" and "statement timeout" in text:
        return f"exceeded the op timeout: the server cancelled the statement ({text})"[:limit]
    return f"{type(exc).__name__}: {text}"[:limit]
