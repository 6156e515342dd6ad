"""Apps that misbehave on purpose, wrapping the real one (scenarios/webapps/serve.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from scenarios.webapps.serve import create as create_real

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _answer_json(send: Any, answer: object) -> None:
    """A 200 response with `answer` as its JSON body, whatever was asked."""
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


def crashing() -> Asgi:
    """Answers like the real app, then the whole process dies after PB_CRASH_AFTER requests."""
    app = create_real()
    limit = int(os.environ.get("PB_CRASH_AFTER", "100"))
    seen = [0]

    async def crash_later(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen[0] += 1
            if seen[0] > limit:
                os._exit(3)
        await app(scope, receive, send)

    return crash_later


def wrong() -> Asgi:
    """Answers like the real app except for user 1, whose e-mail it gets wrong."""
    app = create_real()

    async def lie(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/users/1":
            await _answer_json(send, {"id": 1, "email": "wrong@example.com"})
            return
        await app(scope, receive, send)

    return lie


def wrong_later() -> Asgi:
    """Answers like the real app for its first PB_RIGHT_FOR requests (the parity check's), then
    gets every user's page wrong: only a re-check of answers given under load catches it."""
    app = create_real()
    right_for = int(os.environ.get("PB_RIGHT_FOR", "40"))
    seen = [0]

    async def lie_later(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen[0] += 1
            if seen[0] > right_for and scope["path"].startswith("/users/"):
                await _answer_json(send, {"id": 0, "stale": True})
                return
        await app(scope, receive, send)

    return lie_later
