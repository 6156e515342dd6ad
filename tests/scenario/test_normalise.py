"""Answers compared as a user means them: the normalise helpers and the one answer check."""

import math
from decimal import Decimal

import pytest

from harness.scenario import (
    Normaliser,
    approx,
    compose,
    nan_equal,
    tuples_as_lists,
    unordered,
    unordered_rows,
)
from harness.scenario.answers import AnswerCheck, check_normalise, first_difference
from harness.scenario.digest import StreamDigest
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

ROWS = [(i, f"user{i}@example.com") for i in range(1, 6)]


def _scenario(normalise=None) -> Scenario:
    return Scenario(
        name="t",
        question="?",
        quick=Grid.of(n=[1]),
        full=Grid.of(n=[1]),
        reference="ref",
        normalise=normalise,
    )


def _check(normalise, reference, *answers):
    """Each answer's (status, detail), checked against the reference's as a runner does."""
    s = _scenario(normalise)
    check = AnswerCheck(s)
    found = {}
    for name, answer in [("ref", reference), *answers]:
        checked = check.check(name, lambda a=answer: s.canonical(a))
        found[name] = (checked.status, checked.detail)
    return found


# --- unordered --------------------------------------------------------------------------------


def test_rows_in_another_order_agree_when_unordered():
    found = _check(unordered, list(ROWS), ("reversed", ROWS[::-1]), ("same", list(ROWS)))
    assert found["reversed"] == ("ok", "")
    assert found["same"] == ("ok", "")


def test_rows_in_another_order_are_still_wrong_without_unordered():
    found = _check(None, list(ROWS), ("reversed", ROWS[::-1]))
    assert found["reversed"] == ("wrong", "result[0][0]: got 5, expected 1")


def test_unordered_counts_duplicates_and_names_the_row_that_matches_nothing():
    found = _check(
        unordered,
        [*ROWS, ROWS[0]],
        ("one_copy", [ROWS[0], *ROWS]),  # the same multiset
        ("dup_other", [*ROWS, ROWS[1]]),  # a duplicate of another row instead
        ("dropped", [*ROWS[1:], ROWS[0]]),
        ("extra", [*ROWS, ROWS[0], (9, "x")]),
    )
    assert found["one_copy"] == ("ok", "")
    assert found["dup_other"] == (
        "wrong",
        "result[5][0]: got 2, expected 1; result[5] matches no expected item, in any order "
        "(compared with unordered)",
    )
    assert found["dropped"] == (
        "wrong",
        "result: 5 items, expected 6; missing (1, 'user1@example.com') (compared with unordered)",
    )
    assert found["extra"] == (
        "wrong",
        "result: 7 items, expected 6; result[6] (9, 'x') is not among them "
        "(compared with unordered)",
    )


def test_the_difference_points_at_the_variants_row_and_the_field_of_the_nearest_expected_one():
    changed = [ROWS[3], ROWS[1], (3, "someone@else"), ROWS[0], ROWS[4]]
    found = _check(unordered, list(ROWS), ("changed", changed))
    assert found["changed"] == (
        "wrong",
        "result[2][1]: got 'someone@else', expected 'user3@example.com'; "
        "result[2] matches no expected item, in any order (compared with unordered)",
    )


def test_unordered_is_nested_lists_inside_rows_too_but_a_rows_fields_keep_their_places():
    users = [
        {"id": 1, "posts": [{"id": 10, "tags": ["a", "b"]}, {"id": 11, "tags": []}]},
        {"id": 2, "posts": [{"id": 20, "tags": ["c"]}]},
    ]
    shuffled = [
        {"id": 2, "posts": [{"id": 20, "tags": ["c"]}]},
        {"id": 1, "posts": [{"id": 11, "tags": []}, {"id": 10, "tags": ["b", "a"]}]},
    ]
    assert first_difference(unordered(shuffled), unordered(users)) is None
    # a row's own fields are positional: (1, "a") is not ("a", 1)
    assert first_difference(unordered([("a", 1)]), unordered([(1, "a")])) is not None
    # a wrong nested post is found, under its path in the variant's answer
    wrong = [users[1], {"id": 1, "posts": [{"id": 11, "tags": []}, {"id": 12, "tags": ["a"]}]}]
    found = first_difference(unordered(wrong), unordered(users))
    assert found is not None and found.startswith("result[1].posts[1]"), found


def test_unordered_rows_leaves_the_order_inside_a_row():
    users = [{"id": 1, "posts": [10, 11]}, {"id": 2, "posts": [20]}]
    assert first_difference(unordered_rows(users[::-1]), unordered_rows(users)) is None
    swapped = [users[1], {"id": 1, "posts": [11, 10]}]
    assert first_difference(unordered(swapped), unordered(users)) is None
    found = first_difference(unordered_rows(swapped), unordered_rows(users))
    assert found is not None and found.startswith("result[1].posts[0]: got 11, expected 10")


def test_an_http_like_answer_a_dict_has_its_lists_compared_unordered():
    answer = {"status": 200, "body": {"items": [1, 2, 3]}}
    other = {"status": 200, "body": {"items": [3, 1, 2]}}
    assert first_difference(unordered(other), unordered(answer)) is None
    assert first_difference(unordered({**other, "status": 201}), unordered(answer)) == (
        "result.status: got 201, expected 200"
    )


# --- approx -----------------------------------------------------------------------------------


def test_approx_numbers_within_the_tolerance_agree_and_outside_it_are_wrong():
    expected = {"table": "users", "count": 10_000}
    found = _check(
        approx(rel=0.05),
        expected,
        ("estimate", {"table": "users", "count": 9_700}),  # 3% off
        ("float", {"table": "users", "count": 10_400.5}),
        ("far", {"table": "users", "count": 9_000}),  # 10% off
    )
    assert found["estimate"] == ("ok", "")
    assert found["float"] == ("ok", "")
    assert found["far"] == (
        "wrong",
        "result.count: got 9000, expected 10000 (compared with approx(rel=0.05))",
    )


def test_approx_applies_to_numbers_anywhere_but_leaves_other_values_exact():
    tolerant = approx(abs=2)
    expected = [{"n": 100, "nested": [(1, 2.0)]}, "label"]
    assert first_difference([{"n": 101, "nested": [(2, 0.5)]}, "label"], expected) is not None
    check = AnswerCheck(_scenario(tolerant))
    assert check.compare([{"n": 101, "nested": [(2, 0.5)]}, "label"], expected) is None
    assert check.compare([{"n": 101, "nested": [(2, 0.5)]}, "label!"], expected) == (
        "result[1]: got 'label!', expected 'label'"
    )
    assert check.compare([{"n": 103, "nested": [(2, 0.5)]}, "label"], expected) == (
        "result[0].n: got 103, expected 100"
    )
    assert check.compare([True], [1]) is None and check.compare([True], [2]) is not None


def test_approx_takes_decimals_and_names_its_tolerances():
    assert str(approx(rel=0.05)) == "approx(rel=0.05)"
    assert str(approx(rel=0.05, abs=1)) == "approx(rel=0.05, abs=1)"
    assert str(approx()) == "approx(rel=1e-09)"
    check = AnswerCheck(_scenario(approx(rel=0.01)))
    assert check.compare([Decimal("99.5")], [100.0]) is None
    assert check.compare([Decimal("98")], [Decimal("100")]) == (
        "result[0]: got Decimal('98'), expected Decimal('100')"
    )
    assert check.compare([0.1 + 0.2], [0.3]) is None
    for bad in ({"rel": 0}, {"abs": -1}, {"rel": math.nan}):
        with pytest.raises(ValueError, match="approx"):
            approx(**bad)


def test_unordered_and_approx_compose_and_the_wrong_message_names_both():
    expected = [("users", 10_000), ("posts", 100_000), ("comments", 50)]
    estimated = [("posts", 98_000), ("comments", 51), ("users", 10_300)]
    far = [("posts", 98_000), ("comments", 51), ("users", 12_000)]
    for normalise in (unordered + approx(rel=0.05), compose(unordered, approx(rel=0.05))):
        found = _check(normalise, expected, ("estimated", estimated), ("far", far))
        assert found["estimated"] == ("ok", "")
        assert found["far"] == (
            "wrong",
            "result[2][1]: got 12000, expected 10000; result[2] matches no expected item, "
            "in any order (compared with unordered + approx(rel=0.05))",
        )


def test_near_numbers_in_rows_pair_up_even_where_their_sorted_order_differs():
    expected = [(1.0, "a"), (1.001, "b")]
    got = [(1.0005, "b"), (0.9995, "a")]  # sorted by number, "b" comes first here
    check = AnswerCheck(_scenario(unordered + approx(abs=0.01)))
    assert check.compare(unordered(got), unordered(expected)) is None


# --- tuples, NaN, Decimal ---------------------------------------------------------------------


def test_tuples_equal_lists_with_tuples_as_lists_and_only_then():
    rows = [(1, "a", (2, 3)), (2, "b", ())]
    from_json = [[1, "a", [2, 3]], [2, "b", []]]
    assert first_difference(from_json, rows) == "result[0]: got list, expected tuple"
    found = _check(tuples_as_lists, rows, ("json", from_json), ("changed", [[1, "a", [2, 4]]]))
    assert found["json"] == ("ok", "")
    assert found["changed"][0] == "wrong"
    assert (
        found["changed"][1] == "result[0][2][1]: got 4, expected 3 (compared with tuples_as_lists)"
    )


def test_nan_equals_nan_with_nan_equal_and_only_then():
    expected = {"avg": math.nan, "rows": [(1, float("nan")), (2, Decimal("NaN"))]}
    got = {"avg": float("nan"), "rows": [(1, Decimal("NaN")), (2, math.nan)]}
    assert first_difference(got, expected) == "result.avg: got nan, expected nan"
    found = _check(nan_equal, expected, ("nan", got), ("number", {**got, "avg": 1.5}))
    assert found["nan"] == ("ok", "")
    assert found["number"] == (
        "wrong",
        "result.avg: got 1.5, expected nan (compared with nan_equal)",
    )
    # composed with approx: NaN is still equal, even though no tolerance makes it close
    assert _check(nan_equal + approx(rel=0.1), expected, ("nan", got))["nan"] == ("ok", "")


def test_decimals_and_floats_are_compared_by_value():
    assert first_difference([Decimal("0.1")], [0.1]) is None
    assert first_difference([Decimal("1")], [1]) is None
    assert first_difference([Decimal("1.50")], [Decimal("1.5")]) is None
    assert (
        first_difference([Decimal("0.1")], [0.2]) == "result[0]: got Decimal('0.1'), expected 0.2"
    )
    assert first_difference([Decimal("0.1")], [Decimal("0.10000001")]) is not None


# --- composing, naming, exports ---------------------------------------------------------------


def test_plain_functions_compose_and_are_named_by_their_name():
    def rows(answer):
        return [tuple(r) for r in answer]

    normalise = rows + unordered
    assert isinstance(normalise, Normaliser)
    assert str(normalise) == "rows + unordered"
    assert normalise([[2, "b"], [1, "a"]]) == unordered([(1, "a"), (2, "b")])
    assert str(compose(rows, unordered, approx(rel=0.1), nan_equal)) == (
        "rows + unordered + approx(rel=0.1) + nan_equal"
    )
    found = _check(normalise, [[1, "a"], [2, "b"]], ("other", [[2, "b"], [1, "z"]]))
    assert found["other"][1].endswith("(compared with rows + unordered)")
    with pytest.raises(ValueError):
        compose()
    with pytest.raises(TypeError):
        compose(unordered, 3)


def test_a_plain_normalise_function_keeps_todays_message():
    found = _check(lambda a: list(a), [1, 2], ("other", [1, 3]))
    assert found["other"] == ("wrong", "result[1]: got 3, expected 2")


def test_a_timed_answer_rechecked_is_compared_and_named_the_same_way():
    s = _scenario(unordered + approx(rel=0.05))
    check = AnswerCheck(s)
    assert check.check("ref", lambda: s.canonical([("a", 100), ("b", 200)])).ok
    assert check.recheck([("b", 204), ("a", 97)]) is None
    assert check.recheck([("b", 204)]) == (
        "result: 1 items, expected 2; missing ('a', 100) (compared with unordered + approx(rel=0.05))"
    )


# --- streamed answers -------------------------------------------------------------------------


def test_a_streamed_answer_cannot_be_compared_unordered_or_approximately_and_says_so():
    for normalise, what in (
        (unordered, "items in any order"),
        (approx(rel=0.05), "approximate numbers"),
    ):
        found = _check(normalise, list(ROWS), ("stream", StreamDigest.of(ROWS)))
        status, detail = found["stream"]
        assert status == "failed"
        assert "stream streamed its answer: a StreamDigest" in detail
        assert f"not with {what}; return the rows instead" in detail
        assert detail.endswith(f"(compared with {normalise})")


def test_a_streamed_answer_is_still_checked_under_normalisers_that_only_map():
    found = _check(
        nan_equal,
        [(1, math.nan), (2, 1.5)],
        ("stream", StreamDigest.of(nan_equal(row) for row in [(1, math.nan), (2, 1.5)])),
        ("changed", StreamDigest.of(nan_equal(row) for row in [(1, math.nan), (2, 2.5)])),
    )
    assert found["stream"] == ("ok", "")
    assert found["changed"][0] == "wrong"


def test_check_normalise_refuses_a_streaming_variant_with_approx_at_definition_time():
    s = _scenario(unordered + approx(rel=0.05))

    @s.variant
    def ref(ctx) -> list:
        return []

    check_normalise(s)  # no variant streams yet

    @s.variant
    def stream(ctx) -> StreamDigest:
        return StreamDigest()

    with pytest.raises(ValueError, match=r"variant 'stream' returns a StreamDigest.*approx"):
        check_normalise(s)
    plain = _scenario(nan_equal)
    plain.variant(stream)
    check_normalise(plain)


def test_the_http_parity_check_compares_under_the_scenario_s_rule():
    from harness.runners.http.runner import _first_mismatch
    from harness.scenario.normalise import rule_of

    got = [{"request": "GET /u/1", "total": 100.0}]
    want = [{"request": "GET /u/1", "total": 103.0}]
    assert _first_mismatch(got, want, rule_of(approx(rel=0.05))) is None
    found = _first_mismatch(got, want, rule_of(approx(rel=0.01)))
    assert found is not None and found.startswith("GET /u/1: ")
    assert _first_mismatch(got, want, rule_of(None)) is not None
    s = _scenario(unordered + approx(rel=0.05))
    s.runner = "http"
    check_normalise(s)  # approx is allowed in http scenarios too
