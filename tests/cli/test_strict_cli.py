"""The command line never drops input silently: a --variant a selected scenario lacks, or a
--grid axis given twice, is one line and exit 2, before any server starts."""

import pytest

from harness.cli import main
from harness.cli.plans import Choice, build_plans


def _one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_variant_one_selected_scenario_lacks_lists_its_variants(tmp_path, capsys):
    line = _one_error_line(
        ["run", "--scenario", "reads", "--scenario", "loading", "--variant", "asyncpg_fetch",
         "--out", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert "variant 'asyncpg_fetch' is not in scenario 'loading'" in line
    assert "(its variants: lazy, joinedload, selectinload, subqueryload," in line
    assert "'asyncpg_fetch' is in: reads" in line
    assert not any(tmp_path.iterdir()), "nothing written"


def test_a_variant_with_every_scenario_selected_must_be_in_each(tmp_path, capsys):
    line = _one_error_line(["run", "--variant", "lazy", "--out", str(tmp_path)], capsys)
    assert "variant 'lazy' is not in scenario 'bulk_insert'" in line
    assert "'lazy' is in: loading (select with --scenario, or name it loading:lazy)" in line


def test_a_variant_no_selected_scenario_has_is_unknown(tmp_path, capsys):
    line = _one_error_line(
        ["run", "--scenario", "reads", "--variant", "lazy", "--out", str(tmp_path)], capsys
    )
    assert line.endswith("unknown variant 'lazy'; valid: " + line.split("valid: ")[1])
    assert "asyncpg_fetch" in line and "selectinload" not in line


def test_the_same_grid_axis_twice_is_refused(tmp_path, capsys):
    line = _one_error_line(
        ["run", "--scenario", "loading", "--grid", "users=1", "--grid", "users=20",
         "--out", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert "--grid users is given twice (users=1 and users=20)" in line
    assert "--grid users=1,20" in line


def test_variants_present_in_every_selected_scenario_make_one_plan_each():
    plans = build_plans(
        Choice(
            scenarios=("reads", "reads"),
            variants=("asyncpg_fetch", "asyncpg_fetch"),
            grid=(("rows", "1"),),
        )
    )
    assert [p.scenario.name for p in plans] == ["reads"]
    assert [v.name for v in plans[0].variants] == ["core_select", "asyncpg_fetch"]


def test_a_variant_named_with_its_scenario_applies_to_that_scenario_only():
    plans = build_plans(
        Choice(
            scenarios=("reads", "loading"),
            variants=("reads:asyncpg_fetch", "loading:joinedload"),
            grid=(("rows", "1"), ("users", "1")),
        )
    )
    chosen = {p.scenario.name: [v.name for v in p.variants] for p in plans}
    assert chosen == {
        "reads": ["core_select", "asyncpg_fetch"],
        "loading": ["selectinload", "joinedload"],
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "http:fastapi_orm",
            "--variant http:fastapi_orm: scenario 'http' is not selected; selected: reads",
        ),
        ("reads:lazy", "--variant reads:lazy: scenario 'reads' has no variant 'lazy'; valid: "),
    ],
)
def test_a_scenario_qualified_variant_that_names_nothing_is_refused(
    entry, message, tmp_path, capsys
):
    line = _one_error_line(
        ["run", "--scenario", "reads", "--variant", entry, "--out", str(tmp_path)], capsys
    )
    assert message in line


def test_help_states_the_rules(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a plain NAME must exist in every selected scenario" in text
    assert "SCENARIO:NAME picks a variant of that scenario only" in text
    assert "an axis given twice is refused" in text
