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
from harness.report.part import ScenarioPart
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
    for name in dict.fromkeys(record.runner for record in run.scenarios):
        lines += section_for(name).legend  # what the columns of its tables mean
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


def _contents(lines: list[str]) -> list[str]:
    """Links to each scenario and to its verdicts, so a long report can be read top-down."""
    seen: Counter[str] = Counter()
    out = ["**Contents**", ""]
    for line in lines:
        if not line.startswith("#"):
            continue
        level, _, text = line.partition(" ")
        anchor = _slug(text, seen)
        if level == "##":
            out.append(f"- [{text}](#{anchor})")
        elif level == "###" and text.startswith(("Verdicts", "How the answer changes")):
            out.append(f"  - [{text}](#{anchor})")
    return [*out, ""] if len(out) > 2 else []


@dataclass(frozen=True)
class Section:
    """One runner's part of a scenario's report, and the legend its tables need (said once, in
    the header, when the run has a scenario of that runner)."""

    render: Callable[[ScenarioPart], list[str]]
    legend: tuple[str, ...] = ()


# The runners' sections by runner name. A runner's own section is one module and one entry here;
# a runner without one gets the generic table of its measurements.
SECTIONS: dict[str, Section] = {
    "latency": Section(latency.section, latency.LEGEND),
    "throughput": Section(throughput.section),
    "http": Section(http.section),
}


def section_for(runner: str) -> Section:
    return SECTIONS.get(runner, Section(generic.section))


def render(run: RunRecord, samples: dict[str, np.ndarray], folder: Path) -> str:
    header = _header(run, folder)
    lines: list[str] = []
    for record in run.scenarios:
        ms = [m for m in run.measurements if m.scenario == record.name]
        lines += [f"## {record.name}: {record.question}", ""]
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
        axes_text = "; ".join(
            f"{name} = {', '.join(map(str, values))}" for name, values in record.axes
        )
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
        lines += section_for(record.runner).render(ScenarioPart(run, record, ms, folder, samples))
    lines = [*header, *_contents([header[0], *lines]), *lines]
    return "\n".join(lines).rstrip() + "\n"


def write_report(folder: Path) -> Path:
    """Rebuilds report.md, charts/ and measurements.csv from the run folder's stored files."""
    run, samples = load_run(folder)
    write_tidy_csv(folder, run)
    text = render(run, samples, folder)
    path = folder / "report.md"
    write_atomic(path, text.encode())
    return path
