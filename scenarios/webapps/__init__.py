"""Two production-shaped HTTP apps over the shared domain: FastAPI and Litestar.

Both serve the same routes with byte-identical JSON (success and error bodies), over one of two
data layers (SQLAlchemy 2 async ORM or raw asyncpg) and one of two serialisers (Pydantic v2 or
msgspec), so a load test can compare framework, data layer and serialiser one at a time.

- `config`: `AppConfig`, the env-var contract (`PB_APP_*`, `PB_DB_*`).
- `data`: the `DataLayer` protocol, `OrmData`, `AsyncpgData`, and the `pb_http_posts` DDL.
- `schemas`: the request/response shapes, as Pydantic models and as msgspec Structs.
- `fastapi_app`, `litestar_app`: `create_app(cfg)` for each framework.
- `serve`: the ASGI factory for uvicorn/granian (`scenarios.webapps.serve:create`).
"""
