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
        assert counter.read() == Traffic(0, 0, 0, 0)


def test_the_proxy_stops_cleanly(server):
    counter = RoundTripCounter(server)
    with counter:
        port = counter.port
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens after the counter stopped"


def test_rows_sent_back_are_counted_off_the_wire_for_any_statement(server):
    """DataRow messages: a SELECT's rows, and an INSERT ... RETURNING's, which
    pg_stat_statements counts as rows written, not returned; psycopg and asyncpg alike."""
    with (
        RoundTripCounter(server) as counter,
        psycopg.connect(**counter.target().psycopg_kwargs(), autocommit=True) as conn,
    ):
        conn.execute("CREATE TEMP TABLE t (i int)")
        counter.reset()
        conn.execute("SELECT generate_series(1, 1000)").fetchall()
        assert counter.read().rows == 1000
        counter.reset()
        got = conn.execute("INSERT INTO t SELECT generate_series(1, 7) RETURNING i").fetchall()
        assert len(got) == 7 and counter.read().rows == 7
        counter.reset()
        conn.execute("INSERT INTO t VALUES (1)")  # writes a row, returns none
        big = conn.execute("SELECT repeat('x', 200000) FROM generate_series(1, 3)").fetchall()
        assert len(big) == 3 and counter.read().rows == 3  # rows spanning many TCP reads

    async def go() -> int:
        conn = await asyncpg.connect(**counter.target().asyncpg_kwargs())
        try:
            await conn.fetch("SELECT 1")
            counter.reset()
            await conn.fetch("SELECT generate_series(1, 250)")
            return counter.read().rows or 0
        finally:
            await conn.close()

    with RoundTripCounter(server) as counter:
        assert asyncio.run(go()) == 250


def test_an_encrypted_connection_leaves_rows_uncounted():
    from harness.measure.roundtrips import _Rows

    rows = _Rows()
    rows.from_client((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))  # SSLRequest
    assert rows.from_server(b"S" + b"\x16\x03\x01 tls from here") == 0
    assert not rows.readable
    plain = _Rows()
    plain.from_client((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
    startup = (9).to_bytes(4, "big") + (196608).to_bytes(4, "big") + b"\x00"
    plain.from_client(startup)
    data_row = b"D" + (10).to_bytes(4, "big") + b"\x00\x01" + (0).to_bytes(4, "big")
    assert plain.from_server(b"N" + data_row[:3]) == 0  # split mid-header
    assert plain.from_server(data_row[3:] + data_row) == 2 and plain.readable
