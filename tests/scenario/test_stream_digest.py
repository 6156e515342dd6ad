"""A streamed answer (StreamDigest) is checked against the reference's rows, row for row."""

from harness.scenario.answers import AnswerCheck
from harness.scenario.digest import StreamDigest
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

ROWS = [(i, f"user{i}@example.com") for i in range(1, 101)]


def _check(*answers: tuple[str, object]) -> dict[str, tuple[str, str]]:
    s = Scenario(name="t", question="?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="ref")
    check = AnswerCheck(s)
    found = {}
    for name, answer in [("ref", list(ROWS)), *answers]:
        checked = check.check(name, lambda a=answer: s.canonical(a))
        found[name] = (checked.status, checked.detail)
    return found


def test_a_stream_of_the_same_rows_in_the_same_order_agrees():
    assert _check(("stream", StreamDigest.of(ROWS)))["stream"] == ("ok", "")


def test_a_stream_that_drops_changes_or_reorders_a_row_is_wrong():
    found = _check(
        ("dropped", StreamDigest.of(ROWS[:-1])),
        ("changed", StreamDigest.of([*ROWS[:50], (51, "someone@else"), *ROWS[51:]])),
        ("reordered", StreamDigest.of([ROWS[1], ROWS[0], *ROWS[2:]])),
    )
    assert found["dropped"] == ("wrong", "result: streamed 99 rows, expected 100")
    for name in ("changed", "reordered"):
        assert found[name] == (
            "wrong",
            "result: streamed 100 rows, but not the expected rows in the expected order",
        )


def test_rows_that_cannot_be_hashed_are_digested_by_their_text_on_both_sides():
    rows = [{"id": 1, "tags": ["a"]}, {"id": 2, "tags": []}]
    assert StreamDigest.of(rows) == StreamDigest.of([dict(r) for r in rows])
    assert StreamDigest.of(rows) != StreamDigest.of(rows[::-1])
