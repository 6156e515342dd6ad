"""Round trips per operation, counted by the proxy between client and server."""

import asyncio

import asyncpg
import psycopg

from harness.measure.roundtrips import RoundTripCounter, Traffic


def test_one_query_is_one_round_trip_and_a_loop_is_one_per_row(server):
    with (
        RoundTripCounter(server) as counter,
        psycopg.connect(**counter.target().psycopg_kwargs(), autocommit=True) as conn,
    ):
        conn.execute("SELECT 1").fetchall()  # connection set-up is not what we count
        counter.reset()
        conn.execute("SELECT 1").fetchall()
        assert counter.read().round_trips == 1
        conn.prepare_threshold = None  # else the 5th execution adds one round trip to prepare
        counter.reset()
        with conn.cursor() as cur:
            for i in range(20):
                cur.execute("SELECT %s::int", (i,))
        assert counter.read().round_trips == 20
        conn.prepare_threshold = 5
        counter.reset()
        with conn.cursor() as cur:
            for i in range(20):
                cur.execute("SELECT %s::int + 1", (i,))
        assert counter.read().round_trips == 21, (
            "psycopg prepares on the 5th execution: one more round trip"
        )


def test_pipelined_executemany_needs_far_fewer_round_trips_than_rows(server):
    with (
        RoundTripCounter(server) as counter,
        psycopg.connect(**counter.target().psycopg_kwargs(), autocommit=True) as conn,
    ):
        conn.execute("CREATE TEMP TABLE t (i int)")
        counter.reset()
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s)", [(i,) for i in range(500)])
        assert 1 <= counter.read().round_trips <= 20
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (500,)


def test_asyncpg_fetch_is_one_round_trip_once_prepared(server):
    async def go() -> int:
        with RoundTripCounter(server) as counter:
            conn = await asyncpg.connect(**counter.target().asyncpg_kwargs())
            try:
                await conn.fetch("SELECT $1::int", 1)  # prepares and caches the statement
                counter.reset()
                await conn.fetch("SELECT $1::int", 2)
                return counter.read().round_trips
            finally:
                await conn.close()

    assert asyncio.run(go()) == 1


def test_bytes_are_counted_each_way(server):
    with (
        RoundTripCounter(server) as counter,
        psycopg.connect(**counter.target().psycopg_kwargs(), autocommit=True) as conn,
    ):
        conn.execute("CREATE TEMP TABLE t (s text)")
        counter.reset()
        (row,) = conn.execute("SELECT repeat('x', 100000)").fetchall()
        down = counter.read()
        assert len(row[0]) == 100_000
        assert down.round_trips == 1
        assert 100_000 < down.received_bytes < 100_300  # the value and a few protocol messages
        assert down.sent_bytes < 200
        counter.reset()
        conn.execute("INSERT INTO t VALUES (%s)", ("y" * 50_000,))
        up = counter.read()
        assert 50_000 < up.sent_bytes < 50_300 and up.received_bytes < 200
        counter.reset()
        assert counter.read() == Traffic(0, 0, 0)


def test_the_proxy_stops_cleanly(server):
    counter = RoundTripCounter(server)
    with counter:
        port = counter.port
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens after the counter stopped"
