"""Page N of a customer's order history: OFFSET or keyset, and what does the index change?

Our own `shop_orders` table (not the shared domain), filled once per run: 200 customers with
1,000 orders each. A page is 20 orders, newest first. `offset` asks for `OFFSET (page-1)*20`;
`keyset` continues after the last order of the previous page (`(created_at, id) < (...)`), the
cursor a client would send back. The `index` axis builds the composite index the keyset query
wants, or none: with it, keyset reads 20 index entries at any depth while OFFSET still walks
past every skipped row; without it, both sort the customer's orders.

Run it: `patternbench run --scenario-path examples/own_orders --scenario orders_pagination`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TIMESTAMP

from harness import Context, DatasetSpec, Grid, OwnTables, Scenario

PAGE_SIZE = 20
CUSTOMERS = 200
ORDERS_PER_CUSTOMER = 1_000
INDEX = "ix_shop_orders_customer_created"
COLUMNS = "id, created_at, total_cents"
NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"
CUSTOMER = CUSTOMERS // 2  # the customer whose history is paged


class Base(DeclarativeBase):
    """This scenario's own tables, apart from harness.domain's."""


class Order(Base):
    __tablename__ = "shop_orders"
    __table_args__ = (Index(INDEX, "customer_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    total_cents: Mapped[int] = mapped_column(Integer)


def fill(conn: psycopg.Connection[Any], _dataset: DatasetSpec) -> None:
    """Deterministic orders: customer c's order k is k minutes after 2026-01-01, k % 7 cents
    apart from the others, ids in insertion order."""
    conn.execute(
        "INSERT INTO shop_orders (id, customer_id, created_at, total_cents) "
        "SELECT (c - 1) * %(n)s + k, c, timestamptz '2026-01-01' + k * interval '1 minute', "
        "100 + (c * 31 + k * 7) %% 10000 "
        "FROM generate_series(1, %(customers)s) c, generate_series(1, %(n)s) k",
        {"customers": CUSTOMERS, "n": ORDERS_PER_CUSTOMER},
    )


def cursor_for_page(ctx: Context) -> None:
    """The keyset cursor a client holds for the point's page: the last order of the page
    before it (read untimed, once per grid point)."""
    page = int(ctx.params.page)
    if page == 1:
        ctx.state["cursor"] = None
        return
    ctx.state["cursor"] = ctx.psycopg.execute(
        f"SELECT created_at, id FROM shop_orders WHERE customer_id = %s {NEWEST_FIRST} "
        "LIMIT 1 OFFSET %s",
        (CUSTOMER, (page - 1) * PAGE_SIZE - 1),
    ).fetchone()


scenario = Scenario(
    name="orders_pagination",
    question="page N of a customer's orders: OFFSET or keyset, with and without the index?",
    quick=Grid.of(page=[1, 40], index=["none", INDEX]),
    full=Grid.of(page=[1, 5, 20, 49], index=["none", INDEX]),
    reference="offset",
    chart_x="page",
    comparisons=(("keyset", "offset"),),
    own_tables=OwnTables(Base.metadata, fill, index_axis="index", optional_indexes=(INDEX,)),
    setup_point=cursor_for_page,
    normalise=lambda rows: [tuple(row) for row in rows],
)


@scenario.variant
def offset(ctx: Context) -> list[tuple[Any, ...]]:
    """LIMIT 20 OFFSET (page-1)*20: the server walks past every skipped order."""
    return ctx.psycopg.execute(
        f"SELECT {COLUMNS} FROM shop_orders WHERE customer_id = %s {NEWEST_FIRST} "
        "LIMIT %s OFFSET %s",
        (CUSTOMER, PAGE_SIZE, (int(ctx.params.page) - 1) * PAGE_SIZE),
    ).fetchall()


@scenario.variant
def keyset(ctx: Context) -> list[tuple[Any, ...]]:
    """WHERE (created_at, id) < the previous page's last: reads only the page's rows."""
    cursor = ctx.state["cursor"]
    if cursor is None:
        return ctx.psycopg.execute(
            f"SELECT {COLUMNS} FROM shop_orders WHERE customer_id = %s {NEWEST_FIRST} LIMIT %s",
            (CUSTOMER, PAGE_SIZE),
        ).fetchall()
    return ctx.psycopg.execute(
        f"SELECT {COLUMNS} FROM shop_orders WHERE customer_id = %s "
        f"AND (created_at, id) < (%s, %s) {NEWEST_FIRST} LIMIT %s",
        (CUSTOMER, *cursor, PAGE_SIZE),
    ).fetchall()
