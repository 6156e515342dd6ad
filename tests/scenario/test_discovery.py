"""Discovery of a team's scenario folder: helpers beside a scenario import without PYTHONPATH and
run once; a misnamed or twice-named scenario is one line and exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.scenario import registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """`list` keeps its catalogue here, not in the user's cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _scenario(name: str, var: str = "scenario", head: str = "", answer: str = "1") -> str:
    return (
        f"{head}"
        "from harness.scenario import Grid, Scenario\n"
        f"{var} = Scenario(name={name!r}, question='Mine?', quick=Grid.of(n=[1]), "
        "full=Grid.of(n=[1]), reference='only')\n"
        f"@{var}.variant\n"
        "def only(ctx):\n"
        f"    return {answer}\n"
    )


def _one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_helpers_beside_a_scenario_import_both_ways_and_run_once(tmp_path):
    log = tmp_path / "imports.log"
    # a helper named before and one after the scenario, imported relatively and absolutely
    for helper in ("aa_pb_helpers", "zz_pb_helpers"):
        (tmp_path / f"{helper}.py").write_text(
            f"from pathlib import Path\nwith open({str(log)!r}, 'a') as f:\n"
            f"    f.write('{helper}\\n')\nVALUE = 41\n"
        )
    (tmp_path / "mine.py").write_text(
        _scenario(
            "pb_helped",
            head="from .aa_pb_helpers import VALUE\nimport zz_pb_helpers\n"
            "import aa_pb_helpers as absolute\nfrom . import zz_pb_helpers as relative\n",
            answer="VALUE + 1",
        )
    )
    found = registry.discover([tmp_path])
    assert found["pb_helped"].variants["only"].fn(None) == 42
    registry.discover([tmp_path])  # a second discovery imports nothing again
    assert sorted(log.read_text().split()) == ["aa_pb_helpers", "zz_pb_helpers"]
    mine = sys.modules[found["pb_helped"].variants["only"].fn.__module__]
    assert mine.absolute is sys.modules[mine.__package__ + ".aa_pb_helpers"]
    assert mine.relative is mine.zz_pb_helpers


def test_a_helper_package_beside_a_scenario_imports(tmp_path):
    (tmp_path / "pb_tools").mkdir()
    (tmp_path / "pb_tools" / "__init__.py").write_text("ANSWER = 7\n")
    (tmp_path / "uses_tools.py").write_text(
        _scenario("pb_tooled", head="import pb_tools\n", answer="pb_tools.ANSWER")
    )
    assert registry.discover([tmp_path])["pb_tooled"].variants["only"].fn(None) == 7


def test_a_scenario_folder_works_from_the_command_line_without_pythonpath(tmp_path):
    (tmp_path / "pb_cli_helpers.py").write_text("QUESTION = 'Helped?'\n")
    (tmp_path / "helped.py").write_text(_scenario("pb_cli_helped", head="import pb_cli_helpers\n"))
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "list", "--scenario-path", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pb_cli_helped: Mine?" in done.stdout


def test_a_scenario_under_another_name_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "misnamed.py").write_text(_scenario("pb_misnamed", var="my_scenario"))
    line = _one_error_line(["list", "--scenario-path", str(tmp_path)], capsys)
    assert "misnamed.py defines Scenario 'pb_misnamed' as 'my_scenario'" in line
    assert "reads only the global name 'scenario'" in line


def test_a_module_that_imports_a_scenario_is_a_helper_not_an_error(tmp_path):
    (tmp_path / "real.py").write_text(_scenario("pb_real"))
    (tmp_path / "reexports.py").write_text(
        "from .real import scenario\nfrom .real import scenario as again\n"
    )
    assert "pb_real" in registry.discover([tmp_path])


def test_two_scenarios_with_one_name_are_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "first.py").write_text(_scenario("pb_twice"))
    (tmp_path / "second.py").write_text(_scenario("pb_twice"))
    line = _one_error_line(["list", "--scenario-path", str(tmp_path)], capsys)
    assert "two scenarios are named 'pb_twice'" in line
    assert "first.py" in line and "second.py" in line


def test_a_team_scenario_named_like_a_built_in_one_is_refused(tmp_path):
    (tmp_path / "loading.py").write_text(_scenario("loading"))
    with pytest.raises(UserError, match=r"two scenarios are named 'loading': in .*scenarios/"):
        registry.discover([tmp_path])


def test_a_file_that_fails_to_import_names_itself(tmp_path, capsys):
    (tmp_path / "pb_broken_helper.py").write_text("raise RuntimeError('no config')\n")
    (tmp_path / "uses_broken.py").write_text(
        _scenario("pb_broken", head="import pb_broken_helper\n")
    )
    line = _one_error_line(["list", "--scenario-path", str(tmp_path)], capsys)
    assert "pb_broken_helper.py failed to import: RuntimeError: no config" in line


def test_discovery_works_again_after_sys_modules_is_restored(tmp_path):
    """pytester (the pytest plugin's tests) restores sys.modules after each in-process run."""
    (tmp_path / "pb_again_helpers.py").write_text("N = 3\n")
    (tmp_path / "again.py").write_text(
        _scenario("pb_again", head="from .pb_again_helpers import N\n", answer="N")
    )
    assert registry.discover([tmp_path])["pb_again"].variants["only"].fn(None) == 3
    for name in [n for n in sys.modules if n.startswith(registry.USER_PACKAGE)]:
        del sys.modules[name]
    assert registry.discover([tmp_path])["pb_again"].variants["only"].fn(None) == 3
