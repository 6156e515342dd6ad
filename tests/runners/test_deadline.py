"""The op timeout's client side: it bounds a block, and leaves someone else's alarm as it was."""

import asyncio
import signal
import time

import pytest

from harness.runners.deadline import GRACE_S, OpTimeout, deadline


def test_a_block_past_its_bound_raises_and_one_within_does_not():
    before = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, if it runs
    started = time.monotonic()
    with pytest.raises(OpTimeout, match=r"exceeded the op timeout of 0\.2 s"), deadline(0.2):
        time.sleep(30)
    assert time.monotonic() - started < 0.2 + GRACE_S + 1.0
    with deadline(5.0):
        time.sleep(0.01)
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (left == 0) if before == 0 else (0 < left <= before)  # only the outer alarm is back


def test_an_awaited_block_is_cancelled_and_raises_op_timeout():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(OpTimeout), deadline(0.2):
            loop.run_until_complete(asyncio.sleep(30))
        assert loop.run_until_complete(asyncio.sleep(0, result=7)) == 7  # the loop still works
    finally:
        loop.close()


def test_an_outer_alarm_is_kept_and_set_again_with_what_is_left():
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 60.0)
        with deadline(0.5):
            time.sleep(0.01)
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 55 < left <= 60  # the outer alarm is back, less the time the block took
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # an outer alarm that comes first holds alone
        with deadline(10.0):
            time.sleep(0.6)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
