"""`patternbench check`: the harness measuring itself, and the text it leaves beside a run."""

import os
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.measure.netem import DelayProxy
from harness.measure.selfcheck import copy_bandwidth, core_placement, wakeup_lateness


def test_wakeup_lateness_is_measured_in_its_own_thread():
    before = os.sched_getaffinity(0)
    cpus = frozenset(sorted(before)[-1:])
    late = wakeup_lateness(sleep_us=300, seconds=0.1, cpus=cpus)
    assert late.n >= 50
    assert 0 <= late.median_us <= late.p99_us
    assert late.cpus == str(min(cpus))
    assert os.sched_getaffinity(0) == before  # the pinning stayed in the measuring thread


def test_core_placement_times_the_same_round_trip_on_and_off_the_servers_cpu(server):
    if not server.server_cpus:
        pytest.skip("the session server is not pinned (one CPU)")
    before = os.sched_getaffinity(0)
    rows = core_placement(server, seconds=1.0)
    assert os.sched_getaffinity(0) == before
    assert [row.where for row in rows] == ["across CPUs", "on the server's CPU"]
    assert rows[1].client_cpus == ",".join(map(str, sorted(server.server_cpus)))
    assert rows[0].client_cpus not in rows[1].client_cpus.split(",")
    for row in rows:
        assert row.error == ""
        assert row.tps > 100 and 0 < row.median_us <= row.p99_us  # zeros left out
        assert 0 <= row.zero_share < 1
        assert row.per_transaction_us == pytest.approx(1e6 / row.tps)


def test_core_placement_needs_a_pinned_server(server):
    assert core_placement(replace(server, server_cpus=frozenset())) == []


def test_check_writes_what_it_printed(tmp_path, capsys, server, fresh_database):
    fresh_database("pb_check")
    out = tmp_path / "check.txt"
    url = f"postgresql://{server.user}@{server.host}:{server.port}/pb_check"
    args = ["check", "--postgres", url, "--seconds", "0.1", "--rtt", "1ms", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    text = out.read_text()
    flowing = " ".join(text.split())  # a caption wraps at the console's width
    for expected in (
        "patternbench check, ",
        "smallest visible step",
        "SELECT 1, asyncpg (async)",
        "delay proxy's timers: asyncio.sleep(500 µs)",
        "proxy forwarding",
        "rtt configured",
        "bandwidth: COPY of 20 MB each way",
        "garbage collector: one ORM read of 10,000 User",
        "Measured in this check's own process",
    ):
        assert expected in text or expected in flowing
    assert f"written to {out}" in printed
    assert not list(tmp_path.glob(".*"))  # written atomically, no temp file left


def test_copy_bandwidth_times_the_whole_copy_through_the_delay_proxy(server):
    direct = copy_bandwidth(server, "direct", megabytes=2, repeats=1)
    assert direct.where == "direct" and direct.megabytes == 2
    assert direct.up_mb_s > 0 and direct.down_mb_s > 0
    with DelayProxy(server, 100.0) as proxy:  # far enough that one round trip bounds the rate
        through = copy_bandwidth(proxy.target(), "rtt 100 ms", megabytes=2, repeats=1)
    # each COPY waits for at least one 100 ms round trip: 2 MB cannot cross faster than 20 MB/s
    assert through.up_mb_s <= 2 / 0.1 and through.down_mb_s <= 2 / 0.1
    assert through.extra_up_us(direct) >= 90_000


def test_check_out_in_a_folder_it_cannot_write_exits_2(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["check", "--no-db", "--out", str(Path(blocked, "check.txt"))]) == 2
    assert "patternbench: error:" in capsys.readouterr().err


def test_the_gc_effect_times_the_same_orm_read_under_each_mode(server):
    import asyncio

    from harness.data.dataset import DatasetSpec
    from harness.data.domain import User
    from harness.measure.gc_effect import _orm_read, gc_effect
    from harness.scenario.context import Context
    from harness.scenario.grid import Params

    loop = asyncio.new_event_loop()
    ctx = Context(server, Params(()), DatasetSpec(), loop)
    ctx.state["rows"] = 500
    try:
        users = _orm_read(ctx)
    finally:
        ctx.close()
        loop.close()
    assert [u.id for u in users] == list(range(1, 501)) and all(isinstance(u, User) for u in users)
    assert users[0].email == "user1@example.com"
    effect = gc_effect(server, rows=2_000, seconds=0.2)
    assert set(effect.median_us) == {"freeze", "default"}
    assert all(effect.n[mode] >= 5 and effect.median_us[mode] > 0 for mode in effect.n), effect
