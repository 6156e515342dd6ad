"""report.md and charts/, rebuilt from a run folder's stored files alone: the header, then each scenario's introduction and its runner's section."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.report import generic, http, latency, throughput
from harness.report.findings import Contest, Finding, comparisons_csv, pair_findings
from harness.report.overview import overview
from harness.report.part import ScenarioPart
from harness.report.pick import what_to_pick
from harness.report.units import duration, rtt_text
from harness.results.records import (
    RTT_DRIFT,
    RunRecord,
    ScenarioRecord,
    disturbed_points,
)
from harness.results.store import load_run, write_atomic, write_tidy_csv


def _disturbed(run: RunRecord) -> list[str]:
    """How many grid points other work on the machine disturbed, said before anything else."""
    total, disturbed = disturbed_points(run.measurements)
    if not disturbed:
        return []
    worst = max(
        (m.metrics["outside_cpu_pct"].value for m in run.measurements if m.disturbed
         and "outside_cpu_pct" in m.metrics),
        default=0.0,
    )  # fmt: skip
    where = ", ".join(f"{s} {label}" for s, label in list(disturbed)[:6])
    more = f" and {len(disturbed) - 6} more" if len(disturbed) > 6 else ""
    return [
        f"> **{len(disturbed)} of {total} grid points were disturbed**: other work on the "
        f"machine used more than the run's limit of CPU while they ran (up to {worst:.0f}% of "
        f"a core), so their timings and the verdicts that rest on them may not hold: {where}"
        f"{more}. Run again on a quiet machine to trust them.",
        "",
    ]


def _header(run: RunRecord, folder: Path) -> list[str]:
    env, server = run.environment, run.server
    settings = server.get("settings", {})
    keys = (
        "shared_buffers",
        "work_mem",
        "fsync",
        "synchronous_commit",
        "jit",
        "max_connections",
        "cpu_affinity",
    )
    shown = ", ".join(f"{k}={settings[k]}" for k in keys if k in settings)
    lines = [f"# patternbench report: {run.run_id}", ""]
    if run.partial:
        why = f" ({run.interrupted})" if run.interrupted else ""
        lines += [f"> **Partial run{why}.** Only what finished is below.", ""]
    for restart in run.server_restarts:
        lines += [f"> **Server restarted**: {restart}.", ""]
    lines += _disturbed(run)
    if run.concurrent_runs:
        lines += [
            f"> **Other patternbench runs shared this machine** ({', '.join(run.concurrent_runs)}"
            "): they competed for the same cores, so these verdicts may not hold.",
            "",
        ]
    for note in run.notes:
        lines += [f"> **Note**: {note}", ""]
    dirty = " (uncommitted changes)" if env.get("git_dirty") else ""
    lines += [
        f"- **When**: {run.started_at} to {run.finished_at or 'unfinished'}, profile `{run.profile}`",
        f"- **Machine**: {env.get('cpu')}, {env.get('cores')} cores, {env.get('memory_gib')} GiB, "
        f"{env.get('os')}",
        f"- **Python** {env.get('python')}; SQLAlchemy {env.get('packages', {}).get('sqlalchemy')}, "
        f"asyncpg {env.get('packages', {}).get('asyncpg')}, psycopg {env.get('packages', {}).get('psycopg')}",
        f"- **PostgreSQL** {server.get('version')} ({server.get('provider')}, {server.get('url')}); {shown}",
        *_cpus_line(server),
        f"- **Code**: git {env.get('git_sha')}{dirty}",
        _gc_line(run),
        *_network_line(run),
        *_self_check_line(folder),
        "",
    ]
    return lines


def _cpus_line(server: dict[str, Any]) -> list[str]:
    """Where a server given as a URL ran against the suite's CPUs (the suite's own servers
    state their pinning in `cpu_affinity`; runs from before this was recorded say nothing)."""
    if server.get("provider") != "url" or "same_host" not in server:
        return []
    if "cpu_affinity" in server.get("settings", {}):
        return []
    if not server["same_host"]:
        return [
            "- **CPUs**: the server runs on another host: its CPU is not metered here, and "
            "every round trip crosses the real network between the two"
        ]
    unseen = (
        ""
        if server.get("processes_seen")
        else " Its processes are not visible here (another pid namespace, such as a "
        "container), so they cannot be pinned."
    )
    return [
        "- **CPUs**: **the server runs on this machine and shares its CPUs with the suite, "
        "unpinned**: the scheduler puts a server backend on the client's core at some times "
        "and not at others, so round trips and the native ceiling can differ from one run to "
        "the next by more than their intervals show; `--pin-cores` splits the CPUs as for the "
        "embedded server." + unseen
    ]


def _gc_line(run: RunRecord) -> str:
    """How Python's garbage collector ran during the latency points (it moves ORM timings)."""
    if run.gc == "default":
        return (
            "- **Garbage collector**: Python's default (`--gc default`): collections also walk "
            "every object the harness holds, which costs the ORM's many objects the most"
        )
    return (
        "- **Garbage collector**: frozen before each latency point (`gc.freeze()`, as "
        "long-running servers do after start-up; `--gc default` measures a default Python "
        "process, where ORM objects cost more)"
    )


def _self_check_line(folder: Path) -> list[str]:
    """A `patternbench check --out check.txt` kept in the run folder, when there is one."""
    if not (folder / "check.txt").is_file():
        return []
    return [
        "- **Harness self-check**: [check.txt](check.txt) (`patternbench check` on the same "
        "machine: timer, runner overhead, core placement, the delay proxy's timers, forwarding "
        "and bandwidth)"
    ]


def _network_line(run: RunRecord) -> list[str]:
    if (run.rtts_ms or [0.0]) == [0.0]:
        return ["- **Network**: loopback (no simulated distance)"]
    measured = run.rtt_select1_us
    parts = []
    for rtt in run.rtts_ms:
        got = measured.get(f"{rtt:g}")
        parts.append(
            f"{rtt_text(rtt)}" + (f" (SELECT 1 measured {duration(got)})" if got else "")
            if rtt
            else "0 = direct"
            + (f" (SELECT 1 {duration(measured['0'])})" if "0" in measured else "")
        )
    return [
        f"- **Network**: simulated round-trip times {', '.join(parts)}; a delay proxy holds "
        "each direction's bytes for rtt/2"
    ]


def _distance_held(record: ScenarioRecord) -> list[str]:
    """After its last point at each rtt, what the delay proxy still added to SELECT 1."""
    lines = []
    for rtt, added in record.rtt_held_ms.items():
        configured = float(rtt)
        text = (
            f"At rtt {rtt_text(configured)} the delay held: after the last point SELECT 1 still "
            f"took {added:.3f} ms longer than direct."
        )
        if abs(added - configured) > RTT_DRIFT * configured:
            text = (
                f"> **At rtt {rtt_text(configured)} the delay did not hold**: after the last point "
                f"SELECT 1 took {added:.3f} ms longer than direct, not {configured:g} ms. This "
                "scenario's numbers at that rtt are suspect."
            )
        lines.append(text)
    return lines


def _slug(heading: str, seen: Counter[str]) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens,
    and -1, -2... on repeats."""
    base = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    count = seen[base]
    seen[base] += 1
    return f"{base}-{count}" if count else base


@dataclass(frozen=True)
class Section:
    """One runner's part of a scenario's report: its section, the legend its tables need (said
    once at the top of the scenario's page), and how its measurements are compared (None: the
    report makes no comparison for it)."""

    render: Callable[[ScenarioPart], list[str]]
    legend: tuple[str, ...] = ()
    contest: Contest | None = None
    picks: Callable[[ScenarioPart], list[str]] | None = None  # its own what-to-pick lines


# The runners' sections by runner name. A runner's own section is one module and one entry here;
# a runner without one gets the generic table of its measurements.
SECTIONS: dict[str, Section] = {
    "latency": Section(latency.section, latency.LEGEND, latency.CONTEST),
    "throughput": Section(throughput.section, (), throughput.CONTEST, throughput.pick_lines),
    "http": Section(http.section, (), http.CONTEST, http.pick_lines),
}


def section_for(runner: str) -> Section:
    return SECTIONS.get(runner, Section(generic.section))


def page_name(scenario: str) -> str:
    """The file of one scenario's full page, beside report.md."""
    return f"report-{scenario}.md"


def _introduction(record: ScenarioRecord) -> list[str]:
    """What the scenario measures: its docstring, its variants, its grid and data."""
    lines: list[str] = []
    if record.status != "ok":
        lines += [f"> **This scenario failed**: {record.error}", ""]
    doc = record.doc.strip().split("\n", 1)
    if len(doc) > 1:
        lines += [doc[1].strip(), ""]
    lines += ["| variant | what it does |", "|---|---|"]
    for name, description in record.variants.items():
        ref = " (reference answer)" if name == record.reference else ""
        lines.append(f"| {name}{ref} | {description} |")
    lines.append("")
    axes_text = "; ".join(f"{name} = {', '.join(map(str, values))}" for name, values in record.axes)
    lines.append(
        f"Grid: {axes_text}."
        + (f" Left out: {record.skipped_points}." if record.skipped_points else "")
    )
    if record.dataset:
        d = record.dataset
        cohorts = (d.get("spec") or {}).get("cohorts") or []
        groups = ", ".join(f"{users:,} with {posts:,}" for posts, users in cohorts)
        lines.append(
            f"Data: {d.get('users', '?'):,} users, {d.get('posts', '?'):,} posts, "
            f"{d.get('comments', '?'):,} comments (dataset {d.get('fingerprint', '')}"
            + (f"; users with exactly N posts each: {groups}" if groups else "")
            + ")."
            if isinstance(d.get("users"), int)
            else ""
        )
    if record.settings_note:
        held = ", ".join(f"{k}={v}" for k, v in record.settings_note.items())
        lines.append(f"These results hold under the server's {held}.")
    lines += _distance_held(record)
    lines.append("")
    return lines


def _page(run: RunRecord, part: ScenarioPart, picks: list[str]) -> str:
    """One scenario's page: what to pick, what it measures, and its runner's full section."""
    record = part.record
    section = section_for(record.runner)
    lines = [
        f"# {record.name}: {record.question}",
        "",
        f"Run {run.run_id}: the run, its machine and server are described in "
        f"[report.md](report.md); [what to pick, for every scenario](report.md#what-to-pick).",
        "",
    ]
    if run.partial:
        lines += ["> **Partial run**: only what finished is below.", ""]
    body = section.render(part)
    heading = next((x[4:] for x in body if x.startswith("### Verdicts")), "")
    below = f"(#{_slug(heading, Counter())})" if heading else "(#what-it-measures)"
    page = page_name(record.name)
    here = [line.replace(f"[{page}]({page})", f"[below]{below}") for line in picks]
    lines += ["## What to pick", "", *here, ""]
    lines += ["## What it measures", "", *_introduction(record)]
    lines += [*section.legend, *body]
    return "\n".join(lines).rstrip() + "\n"


def scenario_parts(
    run: RunRecord, samples: dict[str, np.ndarray], folder: Path
) -> list[ScenarioPart]:
    """One part per scenario of the run, in its order: the pages and comparisons.csv read the
    same parts, so each comparison is bootstrapped once."""
    parts = []
    for record in run.scenarios:
        ms = [m for m in run.measurements if m.scenario == record.name]
        parts.append(ScenarioPart(run, record, ms, folder, samples))
    return parts


def render_pages(
    run: RunRecord,
    samples: dict[str, np.ndarray],
    folder: Path,
    parts: list[ScenarioPart] | None = None,
) -> dict[str, str]:
    """report.md (the header, what to pick, a short table and chart per scenario) and one page
    per scenario, by file name."""
    lines = _header(run, folder)
    pages: dict[str, str] = {}
    picks: list[str] = ["## What to pick", ""]
    summaries: list[str] = []
    for part in parts if parts is not None else scenario_parts(run, samples, folder):
        record = part.record
        page = page_name(record.name)
        section = section_for(record.runner)
        mine = scenario_picks(part)
        picks += [
            f"**[{record.name}](#{_slug(_summary_heading(record), Counter())})**: {record.question}",
            "",
            *mine,
            "",
        ]
        pages[page] = _page(run, part, mine)
        summaries += [
            f"## {_summary_heading(record)}", "", *overview(part, section.contest, page), ""
        ]  # fmt: skip
    lines += [*picks, *summaries]
    pages = {"report.md": "\n".join(lines).rstrip() + "\n", **pages}
    return pages


def scenario_picks(part: ScenarioPart) -> list[str]:
    """What to pick for one scenario: the comparisons' lines, with its runner's own answer (such
    as the pool size) after the fastest."""
    section = section_for(part.record.runner)
    lines = what_to_pick(part, section.contest, page_name(part.record.name))
    if section.picks is not None:
        lines[1:1] = section.picks(part)
    return lines


def _summary_heading(record: ScenarioRecord) -> str:
    return f"{record.name}: {record.question}"


def comparison_rows(parts: list[ScenarioPart]) -> list[tuple[str, Finding]]:
    """Every scenario's comparisons at every point, for comparisons.csv."""
    rows = []
    for part in parts:
        contest = section_for(part.record.runner).contest
        if contest is not None:
            rows += [(part.record.name, f) for f in pair_findings(part, contest)]
    return rows


def write_report(folder: Path) -> Path:
    """Rebuilds report.md, its scenario pages, charts/, measurements.csv and comparisons.csv
    from the run folder's stored files."""
    run, samples = load_run(folder)
    write_tidy_csv(folder, run)
    parts = scenario_parts(run, samples, folder)
    pages = render_pages(run, samples, folder, parts)
    write_atomic(folder / "comparisons.csv", comparisons_csv(run.run_id, comparison_rows(parts)))
    for stale in folder.glob("report-*.md"):
        if stale.name not in pages:
            stale.unlink()
    for name, text in pages.items():
        write_atomic(folder / name, text.encode())
    return folder / "report.md"
