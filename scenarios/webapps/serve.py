"""The ASGI factory servers import: it reads `AppConfig.from_env()` and builds that app.

    uvicorn --factory scenarios.webapps.serve:create --host 127.0.0.1 --port 8000
    granian --interface asgi --factory scenarios.webapps.serve:create --host 127.0.0.1

Only the chosen framework is imported.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from scenarios.webapps.config import AppConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def create() -> ASGIApp:
    cfg = AppConfig.from_env()
    if cfg.framework == "fastapi":
        from scenarios.webapps import fastapi_app

        return cast(ASGIApp, fastapi_app.create_app(cfg))
    from scenarios.webapps import litestar_app

    return cast(ASGIApp, litestar_app.create_app(cfg))
