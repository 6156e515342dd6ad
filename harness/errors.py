"""Errors a user can cause: they end in one clear line and exit code 2, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the message names what is valid."""


class ServerGone(Exception):
    """The PostgreSQL server stopped answering in the middle of a scenario."""
