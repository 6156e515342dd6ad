import pytest

from harness.errors import UserError
from harness.scenario import registry
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario


def test_grid_points_are_the_product_in_declaration_order():
    grid = Grid.of(a=[1, 2], b=["x", "y"])
    assert [p.label for p in grid.points()] == ["a=1 b=x", "a=1 b=y", "a=2 b=x", "a=2 b=y"]
    assert len(grid) == 4


def test_grid_skip_leaves_points_out_and_says_so():
    grid = Grid.of(a=[1, 2], b=[10, 20]).skipping("big", lambda p: p.a * p.b > 30)
    assert [p.label for p in grid.points()] == ["a=1 b=10", "a=1 b=20", "a=2 b=10"]
    assert grid.skip_note == "big"


def test_grid_override_parses_to_the_axis_type():
    grid = Grid.of(users=[1, 20], nesting=["posts"]).override(
        {"users": "5, 7", "nesting": "comments"}
    )
    assert grid.values("users") == (5, 7)
    assert grid.values("nesting") == ("comments",)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"users": "ten"}, "takes int values"),
        ({"users": "0"}, "positive"),
        ({"users": "-3"}, "positive"),
        ({"colour": "red"}, "unknown grid axis 'colour'; valid: users"),
    ],
)
def test_bad_grid_overrides_are_user_errors(override, message):
    with pytest.raises(UserError, match=message):
        Grid.of(users=[1]).override(override)


def test_params_attribute_access():
    p = Params((("users", 3), ("nesting", "posts")))
    assert p.users == 3 and p.nesting == "posts"
    assert p.as_dict() == {"users": 3, "nesting": "posts"}
    with pytest.raises(AttributeError):
        _ = p.missing


def test_variant_names_drop_trailing_underscores_and_know_async():
    s = Scenario(name="t", question="q?", quick=Grid.of(n=[1]), full=Grid.of(n=[1]), reference="a")

    @s.variant
    def a(ctx):
        """First line.

        More."""

    @s.variant
    async def joinedload_(ctx):
        pass

    assert list(s.variants) == ["a", "joinedload"]
    assert s.variants["a"].description == "First line."
    assert s.variants["joinedload"].is_async and not s.variants["a"].is_async
    with pytest.raises(
        UserError, match="unknown variant 'nope' for scenario 't'; valid: a, joinedload"
    ):
        s.select_variants(["nope"])
    # the reference is always included: it is what the others are checked against
    assert [v.name for v in s.select_variants(["joinedload"])] == ["a", "joinedload"]


def test_registry_finds_builtin_and_team_scenarios(tmp_path):
    (tmp_path / "mine.py").write_text(
        "from harness.scenario import Grid, Scenario\n"
        "scenario = Scenario(name='mine', question='Mine?', quick=Grid.of(n=[1]), "
        "full=Grid.of(n=[1]), reference='only')\n"
        "@scenario.variant\n"
        "def only(ctx):\n"
        "    return 1\n"
    )
    found = registry.discover([tmp_path])
    assert "loading" in found and "mine" in found
    with pytest.raises(
        UserError,
        match="unknown scenario 'nope'; valid: bulk_insert, http, loading, pool_sizing, reads",
    ):
        registry.select(found, ["nope"])


def test_a_scenario_with_an_undefined_reference_is_refused(tmp_path):
    (tmp_path / "broken.py").write_text(
        "from harness.scenario import Grid, Scenario\n"
        "scenario = Scenario(name='broken', question='?', quick=Grid.of(n=[1]), "
        "full=Grid.of(n=[1]), reference='missing')\n"
    )
    with pytest.raises(UserError, match="reference variant 'missing' is not defined"):
        registry.discover([tmp_path])
